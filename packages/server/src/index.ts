// The public API of @micro-ts/server. Named exports only.
export { createGateway } from "./gateway/gateway.js";
export type { Gateway, GatewayOptions, GatewayTarget, GatewayAccount, Authorize } from "./gateway/options.js";
export type { CorsOptions } from "./gateway/cors.js";

// The core services and `micro server`.
export { startServer, CORE_SERVICES } from "./server.js";
export type { ServerOptions, RunningServer } from "./server.js";
export { RegistryHandler } from "./services/registry.js";
export { BrokerHandler } from "./services/broker.js";
export { StoreHandler } from "./services/store.js";
export { ConfigHandler } from "./services/config.js";
export { EventsHandler } from "./services/events.js";
export { Proxy } from "./services/proxy.js";
export type { ProxyOptions } from "./services/proxy.js";

// Auth (issue 5): the `auth` core service, its bootstrap, and what the gateway and CLI enforce with.
export {
  AuthHandler,
  DEFAULT_RULES,
  bootstrapAuth,
  coreAuthMiddleware,
  gatewayAuthorize,
  gatewayResource,
  checkRules,
  withServiceAccounts,
  shouldEnableAuth,
  isLoopback,
} from "./services/auth.js";
export type { AuthDecision, BootstrapOptions } from "./services/auth.js";

// MCP (issue 8): every endpoint as a tool for AI agents, over stdio (`micro mcp serve`) and Streamable HTTP (`/mcp`).
export { createMcpServer, mcpTools, MCP_DEFAULTS } from "./mcp/server.js";
export type { McpServerOptions, McpTools, McpAuthorize, McpListAllowed } from "./mcp/server.js";
export { serveStdio } from "./mcp/stdio.js";
export type { StdioOptions, StdioSession } from "./mcp/stdio.js";
export { mcpHttpHandler } from "./mcp/http.js";
export type { McpHttpHandler, McpHttpOptions } from "./mcp/http.js";
export { mcpAuth } from "./mcp/auth.js";
export type { McpAuthOptions } from "./mcp/auth.js";
export { toolName, toolEntries, MAX_TOOL_NAME, MCP_METADATA } from "./mcp/tools.js";
export type { McpTool, ToolEntry, ToolEntriesOptions } from "./mcp/tools.js";
