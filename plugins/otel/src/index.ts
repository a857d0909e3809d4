export { otelExporter, toReadableSpan, msToHrTime, DEFAULT_OTLP_URL } from "./exporter.js";
export type { OtelExporter, OtelExporterOptions } from "./exporter.js";
