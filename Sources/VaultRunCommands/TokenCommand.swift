import ArgumentParser
import FoundationEssentials
import VaultCLI
import VaultCore
import VaultTokens
import VaultRotation
import VaultCrypto

package struct TokenCommand: ParsableCommand {
    package init() {}
    package static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print an access token for a stored app (client-credentials flow, cached).",
        discussion: """
        Prints the bare token. To hand it to curl without putting it in curl's argv (visible to every local user \
        in `ps`), use the header form: `vault token APP --output header | curl -H @- https://graph.microsoft.com/v1.0/users`. \
        A cached token is used while more than 5 minutes remain; otherwise one process asks Entra ID and the others \
        wait for its result.
        """
    )

    @OptionGroup package var options: VaultOptions
    @OptionGroup package var network: NetworkOptions
    @Argument(help: "The app's name.") package var app: String
    @Option(help: ArgumentHelp("Scope (default: the app's stored scope, else its Graph host's /.default).", valueName: "scope"))
    package var scope: String?
    @Option(help: "Output: token (bare), header (`Authorization: Bearer …`, for `curl -H @-`) or json.")
    package var output: TokenOutput = .token
    @Flag(help: "Same as --output json.") package var json = false

    package enum TokenOutput: String, ExpressibleByArgument, CaseIterable { case token, header, json }

    package func run() throws {
        try TokenRequest(vault: options.access, network: network.settings, app: app, scope: scope,
                         output: json ? .json : output).run()
    }
}

/// `vault token`'s work once its command line is read, by ArgumentParser (TokenCommand) or by hand (TokenCommandLine).
package struct TokenRequest {
    package var vault: VaultAccess
    package var network: NetworkSettings
    package var app: String
    package var scope: String?
    var output: TokenCommand.TokenOutput = .token

    package func run() throws {
        if let scope { try TokenService.validateScope(scope) }
        let service = try network.tokenService(vault)
        let result = try RotationService.usingApp(app, tokens: service, checkpoint: TestHooks.checkpoint, note: Console.warn) { try $0.token(app: app, scope: scope) }
        for w in result.warnings { Console.warn(w) }
        switch output {
        case .json:
            struct Output: Encodable {
                var access_token: String
                var token_type: String
                var expires_on: Int64
                var scope: String
                var token_source: String
            }
            Console.out(try Format.json(Output(access_token: result.token.secret, token_type: result.token.tokenType,
                                               expires_on: result.token.expiresOn, scope: result.token.target,
                                               token_source: result.source.rawValue)))
        case .header:
            Console.out("Authorization: Bearer \(result.token.secret)")
        case .token:
            Console.out(result.token.secret)
        }
    }
}
