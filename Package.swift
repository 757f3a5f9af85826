// swift-tools-version:6.0

import PackageDescription

// The dependency lists below are the architecture: the model (MMUSim) imports no
// package, and of the platform only Dispatch and Synchronization (the explorer's
// threads and their shared counter), so no network,
// clock or C code can reach it; the server is the only place with I/O; the C
// libraries serve the end-to-end tests alone.
let package = Package(
    name: "mmu-notifier-lab",
    products: [
        .executable(name: "mmusim", targets: ["mmusim"]),
        .executable(name: "mmusim-bench", targets: ["mmusim-bench"]),
        .library(name: "MMUSim", targets: ["MMUSim"]),
        .library(name: "MMUSimServer", targets: ["MMUSimServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        .target(name: "MMUSim"),
        .target(
            name: "MMUSimServer",
            dependencies: [
                .byName(name: "MMUSim"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
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
        .executableTarget(
            name: "mmusim-bench",
            dependencies: [.byName(name: "MMUSim")]
        ),
        .executableTarget(
            name: "bench-bare-http",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")]
        ),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CJSONC",
            pkgConfig: "json-c",
            providers: [.apt(["libjson-c-dev"])]
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
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                .byName(name: "CCurl"),
                .byName(name: "CJSONC"),
                .byName(name: "MMUSimServer"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
