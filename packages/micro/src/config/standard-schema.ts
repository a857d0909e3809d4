/**
 * Standard Schema v1 (https://standardschema.dev), the interface zod, valibot and arktype
 * implement. One definition serves the whole core (request validation too); config re-exports it.
 */
export type { StandardSchemaV1 } from "../schema/standard-schema.js";
export { formatIssues, isStandardSchema } from "../schema/standard-schema.js";
