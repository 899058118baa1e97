import Foundation

/// The replay driver of every fuzz harness (built without `-DFUZZING`): feeds each file named on the command line,
/// or each file of a directory named there, to the harness, and reports how many inputs ran. A trap in the harness
/// kills the process, so exit 0 means every input ran through. `--make-seeds DIR` writes the harness's generated seeds.
public enum FuzzReplay {
    public static func main(_ harness: ([UInt8]) -> Void, seeds: (() -> [(String, [UInt8])])? = nil) {
        var args = Array(CommandLine.arguments.dropFirst())
        if args.first == "--make-seeds", args.count == 2 {
            for (name, bytes) in seeds?() ?? [] {
                guard FileManager.default.createFile(atPath: args[1] + "/" + name, contents: Data(bytes)) else {
                    fatalError("cannot write the seed \(args[1])/\(name)")
                }
            }
            return
        }
        if args.isEmpty { args = ["."] }
        var count = 0
        for path in args {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                FileHandle.standardError.write(Data("replay: no such file \(path)\n".utf8))
                exit(66)
            }
            let files = isDir.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 }
                : [path]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                harness(Array(data))
                count += 1
            }
        }
        print("replayed \(count) inputs")
    }
}
