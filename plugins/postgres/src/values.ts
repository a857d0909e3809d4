// The store's validation and value encoding: the core's own rules, shared by every store.
import { decodeValue as decode, type Encoded } from "@micro-ts/micro/store-codec";
import type { StoreValue } from "@micro-ts/micro";

export { checkCount, checkKey, checkName, checkTTL, encodeValue, metadataJSON, STORE_ERROR_ID } from "@micro-ts/micro/store-codec";
export type { Encoded };

export function decodeValue(bytes: Uint8Array, json: boolean): StoreValue {
  return decode({ bytes, json });
}
