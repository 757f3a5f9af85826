import Foundation

/// The API's JSON: snake_case keys on the wire, Swift's names in the code, converted by the
/// coders' key strategies rather than by a `CodingKeys` enum per type. Scenario and explorer
/// files are read the same way.
public enum APIJSON {
    /// A decoder for request bodies and library files (`pause_at` reads into `pauseAt`).
    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }

    /// The encoder of every answer: snake_case keys, sorted so that equal answers are equal
    /// bytes, "/" left unescaped. One for all: making one per request costs more than the answer.
    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// A Swift property name as the wire spells it (`pauseAt` → `pause_at`), for messages.
    static func wireName(_ name: String) -> String {
        var out = ""
        for character in name {
            if character.isUppercase {
                if !out.isEmpty { out.append("_") }
                out.append(Character(character.lowercased()))
            } else {
                out.append(character)
            }
        }
        return out
    }
}
