// swift-tools-version:6.0

import PackageDescription

// The dependency lists below are the architecture: the model (MMUSim) imports
// nothing, so no network, clock or C code can reach it.
let package = Package(
    name: "mmu-notifier-lab",
    products: [
        .library(name: "MMUSim", targets: ["MMUSim"]),
    ],
    targets: [
        .target(name: "MMUSim"),
        .testTarget(
            name: "MMUSimTests",
            dependencies: [.byName(name: "MMUSim")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
