// Test helpers shared by this package's tests (not exported from the package).
/** The shared NATS server the tests run against; override with MICRO_NATS_ADDRESS. */
export const NATS_ADDRESS = process.env["MICRO_NATS_ADDRESS"] ?? "127.0.0.1:4222";
