import ArgumentParser
import FoundationEssentials
import Graph
import VaultCore
import VaultTokens
import VaultRotation
import VaultCrypto
import VaultHTTP
import VaultStore
import VaultFormat
import VaultRecords

/// Options shared by every `vault run` command.
package struct GraphOptions: ParsableArguments {
    package init() {}
    @OptionGroup package var vault: VaultOptions
    @OptionGroup package var network: NetworkOptions
    @Flag(name: [.short, .long], help: "No progress line on stderr.") package var quiet = false

    package func service(app: String, progress: Progress?) throws -> GraphService {
        let tokens = try network.tokenService(vault)
        return try RotationService.usingApp(app, tokens: tokens, checkpoint: TestHooks.checkpoint, note: Console.warn) { tokens in
            var service = try GraphService(tokenService: tokens, app: app, onRetry: { attempt, delay, status in
                progress?.note("Graph answered \(status); retry \(attempt) in \(Int((delay * 10).rounded()) / 10).\(Int((delay * 10).rounded()) % 10) s")
            })
            service.onNote = { Console.warn($0) }
            return service
        }
    }

    package var progressEnabled: Bool { !quiet && Console.stderrIsTerminal }
}
