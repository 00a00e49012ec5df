// swift-tools-version:6.0
// The ceiling for the HTTP benchmark: a bare Hummingbird 2 hello-world, built the same way as neuroplex.
import PackageDescription

let package = Package(
    name: "hello-world",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: [
        .executableTarget(
            name: "HelloWorld",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")]
        ),
    ]
)
