// swift-tools-version:6.0

import PackageDescription

// The dependency lists below are the architecture: the model (MMUSim) imports
// nothing, so no network, clock or C code can reach it; the server is the only
// place with I/O.
let package = Package(
    name: "mmu-notifier-lab",
    products: [
        .executable(name: "mmusim", targets: ["mmusim"]),
        .library(name: "MMUSim", targets: ["MMUSim"]),
        .library(name: "MMUSimServer", targets: ["MMUSimServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .target(name: "MMUSim"),
        .target(
            name: "MMUSimServer",
            dependencies: [
                .byName(name: "MMUSim"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "mmusim",
            dependencies: [
                .byName(name: "MMUSim"),
                .byName(name: "MMUSimServer"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "MMUSimTests",
            dependencies: [.byName(name: "MMUSim")]
        ),
        .testTarget(
            name: "MMUSimServerTests",
            dependencies: [
                .byName(name: "MMUSimServer"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
