// The public API of @micro-ts/rabbitmq: Micro's broker on RabbitMQ. Named exports only.
export { RabbitmqBroker, rabbitmqBroker } from "./broker.js";
export type { RabbitmqBrokerOptions } from "./broker.js";
