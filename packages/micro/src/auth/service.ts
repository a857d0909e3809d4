/**
 * An Auth served by the `auth` core service of a `micro server` (`Auth.Generate`, `Auth.Token`,
 * ...). With `credentials`, its own calls carry that account's token (the server's rules
 * decide what it may do); without, only the public endpoints (login, public keys) answer.
 */
import { Remote, type RemoteOptions } from "../util/remote.js";
import type {
  Account,
  Auth,
  Credentials,
  GeneratedAccount,
  GenerateOptions,
  KeySet,
  NamespaceOptions,
  Resource,
  Rule,
  Token,
  TokenOptions,
} from "./auth.js";
import { serviceToken } from "./middleware.js";
import { verifyRules } from "./rules.js";
import { DEFAULT_NAMESPACE } from "./auth.js";

export const AUTH_SERVICE = "auth";

export interface ServiceAuthClientOptions extends RemoteOptions {
  /** The account this client acts as (e.g. an admin, or a service account). */
  credentials?: { id: string; secret: string; namespace?: string };
  /** A token source instead of credentials (e.g. the CLI's stored login). */
  token?: () => Promise<string>;
  /** @default "micro" */
  namespace?: string;
}

const PUBLIC = new Set(["Auth.Token", "Auth.PublicKeys"]);

class ServiceAuth implements Auth {
  private readonly remote: Remote;
  private readonly bearer: (() => Promise<string>) | undefined;
  private readonly namespace: string;

  constructor(opts: ServiceAuthClientOptions) {
    // The token goes on the non-public endpoints only (below), so the Remote gets none.
    const { token: _token, credentials: _credentials, ...remote } = opts;
    this.remote = new Remote(AUTH_SERVICE, remote);
    this.namespace = opts.namespace ?? DEFAULT_NAMESPACE;
    this.bearer = opts.token ?? (opts.credentials ? serviceToken({ auth: this, credentials: { namespace: this.namespace, ...opts.credentials } }) : undefined);
  }

  private async call<T>(endpoint: string, req: unknown): Promise<T> {
    const metadata: Record<string, string> = {};
    if (this.bearer && !PUBLIC.has(endpoint)) metadata["authorization"] = `Bearer ${await this.bearer()}`;
    return this.remote.call<T>(endpoint, req, { metadata });
  }

  async generate(id: string, o: GenerateOptions = {}): Promise<GeneratedAccount> {
    return (await this.call<{ account: GeneratedAccount }>("Auth.Generate", { id, options: o })).account;
  }

  async token(c: Credentials, o: TokenOptions = {}): Promise<Token> {
    return (await this.call<{ token: Token }>("Auth.Token", { credentials: c, options: o })).token;
  }

  async inspect(accessToken: string, o: NamespaceOptions = {}): Promise<Account> {
    return (await this.call<{ account: Account }>("Auth.Inspect", { token: accessToken, options: o })).account;
  }

  async grant(rule: Rule, o: NamespaceOptions = {}): Promise<void> {
    await this.call("Auth.Grant", { rule, options: o });
  }

  async revoke(ruleId: string, o: NamespaceOptions = {}): Promise<void> {
    await this.call("Auth.Revoke", { id: ruleId, options: o });
  }

  async rules(o: NamespaceOptions = {}): Promise<Rule[]> {
    return (await this.call<{ rules: Rule[] }>("Auth.Rules", { options: o })).rules;
  }

  /** Checked here against the server's rules (one Auth.Rules round trip). */
  async verify(account: Account | undefined, resource: Resource, o: NamespaceOptions = {}): Promise<void> {
    verifyRules(await this.rules(o), account, resource, o.namespace ?? this.namespace);
  }

  async accounts(o: NamespaceOptions = {}): Promise<Account[]> {
    return (await this.call<{ accounts: Account[] }>("Auth.Accounts", { options: o })).accounts;
  }

  async deleteAccount(id: string, o: NamespaceOptions = {}): Promise<void> {
    await this.call("Auth.Delete", { id, options: o });
  }

  async publicKeys(): Promise<KeySet> {
    return this.call<KeySet>("Auth.PublicKeys", {});
  }

  close(): Promise<void> {
    return this.remote.close();
  }
}

/** An Auth that calls the `auth` core service at `address`. */
export function serviceAuth(opts: ServiceAuthClientOptions): Auth {
  return new ServiceAuth(opts);
}
