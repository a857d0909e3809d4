// The public API of @micro-ts/mqtt: Micro's broker on MQTT 5. Named exports only.
export { MqttBroker, mqttBroker, toMqttTopic, fromMqttTopic } from "./broker.js";
export type { MqttBrokerOptions } from "./broker.js";
