// The public API of @micro-ts/server. Named exports only.
export { createGateway } from "./gateway/gateway.js";
export type { Gateway, GatewayOptions, GatewayTarget, GatewayAccount, Authorize } from "./gateway/options.js";
export type { CorsOptions } from "./gateway/cors.js";
