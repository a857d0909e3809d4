// The auth domain's public API.
export type {
  Access,
  Account,
  AccountType,
  Auth,
  Credentials,
  GeneratedAccount,
  GenerateOptions,
  KeySet,
  NamespaceOptions,
  PublicKey,
  Resource as AuthResource,
  Rule,
  Token,
  TokenOptions,
  TokenVerifier,
} from "./auth.js";
export { ACCESS, ACCOUNT_TYPES, AUTH_ERROR_ID, DEFAULT_NAMESPACE } from "./auth.js";
export { newAuth, noopAuth, AUTH_DEFAULTS, type AuthOptions, type DefaultAuth } from "./default.js";
export { verifyJwt, signJwt, bearerToken, TOKEN_ERRORS, MAX_TOKEN_BYTES, type AccessClaims, type TokenErrorCode, type VerifyJwtOptions } from "./jwt.js";
export { verifyRules, matchingRules, decidingRule, validateRule } from "./rules.js";
export { localVerifier, type LocalVerifier, type LocalVerifierOptions } from "./verifier.js";
export {
  authServerMiddleware,
  authClientMiddleware,
  serviceToken,
  installServiceAuth,
  rulesGetter,
  accountOf,
  currentAccount,
  type AuthServerMiddlewareOptions,
  type AuthClientMiddlewareOptions,
  type ServiceTokenOptions,
  type ServiceAuthOptions,
  type RulesSource,
} from "./middleware.js";
export { serviceAuth, AUTH_SERVICE, type ServiceAuthClientOptions } from "./service.js";
