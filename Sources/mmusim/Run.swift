import ArgumentParser
import Foundation
import MMUSim
import MMUSimServer

/// `mmusim run FILE...`: run scenarios without a server and check their expectations.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run scenario files and check their expectations.",
        discussion: """
            Prints, per step, PASS or FAIL with the expected and actual values, then 'N passed, M failed' \
            over the checked steps of every file. Exits 1 when any step fails. See docs/scenarios.md.
            """
    )

    @Argument(help: "Scenario files (JSON).")
    var files: [String]

    @Option(help: "Also write a JUnit XML report here, one test suite per file and one test case per checked step.")
    var junit: String?

    func run() throws {
        var passed = 0
        var failed = 0
        var suites: [(file: String, report: ScenarioReport)] = []
        for file in files {
            let scenario: Scenario
            let drivers: [String: Policy]
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: file))
                scenario = try APIJSON.decoder().decode(Scenario.self, from: data)
                drivers = try Explorer.drivers(inText: String(decoding: data, as: UTF8.self))
            } catch {
                print("FAIL \(file): cannot read the scenario: \(error)")
                failed += 1
                continue
            }
            let report = ScenarioRunner.run(scenario, drivers: drivers)
            suites.append((file, report))
            print("\(file): \(scenario.description.prefix(100))\(scenario.description.count > 100 ? "..." : "")")
            for step in report.steps where step.checked || !step.passed {
                print("  \(step.passed ? "PASS" : "FAIL") step \(step.index): \(step.label)")
                for failure in step.failures { print("    \(failure)") }
                if step.passed { passed += 1 } else { failed += 1 }
            }
        }
        print("\(passed) passed, \(failed) failed")
        if let junit { try Self.junit(suites).write(toFile: junit, atomically: true, encoding: .utf8) }
        if failed > 0 { throw ExitCode(1) }
    }

    static func junit(_ suites: [(file: String, report: ScenarioReport)]) -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var xml = ["<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "<testsuites>"]
        for (file, report) in suites {
            let cases = report.steps.filter { $0.checked || !$0.passed }
            xml.append("  <testsuite name=\"\(escape(file))\" tests=\"\(cases.count)\" failures=\"\(cases.filter { !$0.passed }.count)\">")
            for step in cases {
                xml.append("    <testcase classname=\"\(escape(file))\" name=\"step \(step.index): \(escape(step.label))\">")
                if !step.passed {
                    xml.append(
                        "      <failure message=\"\(escape(step.failures.first ?? "failed"))\">\(escape(step.failures.joined(separator: "\n")))</failure>"
                    )
                }
                xml.append("    </testcase>")
            }
            xml.append("  </testsuite>")
        }
        xml.append("</testsuites>")
        return xml.joined(separator: "\n") + "\n"
    }
}
