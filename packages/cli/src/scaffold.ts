/** `micro new NAME`: a TypeScript service directory that runs with `npm install && npm start`. */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { toCamel, UsageError } from "./flags.js";

export const TEMPLATES = ["basic", "pubsub", "crud"] as const;
export type Template = (typeof TEMPLATES)[number];

const NAME = /^[a-z][a-z0-9-]{0,62}$/;

function files(name: string, template: Template): Record<string, string> {
  const cls = toCamel(name);
  const pkg = {
    name,
    version: "0.1.0",
    private: true,
    type: "module",
    main: "main.ts",
    scripts: {
      start: "tsx main.ts",
      dev: "tsx watch main.ts",
      test: "node --import tsx --test handler.test.ts",
      typecheck: "tsc --noEmit",
    },
    dependencies: { "@micro-ts/micro": "^0.1.0" },
    devDependencies: { "@types/node": "^20.19.0", tsx: "^4.19.0", typescript: "^5.6.0" },
  };
  const tsconfig = {
    compilerOptions: {
      target: "ES2022",
      module: "NodeNext",
      moduleResolution: "NodeNext",
      strict: true,
      noUncheckedIndexedAccess: true,
      verbatimModuleSyntax: true,
      allowImportingTsExtensions: true,
      noEmit: true,
      skipLibCheck: true,
      types: ["node"],
    },
    include: ["*.ts"],
  };
  const t = TEMPLATE_CODE[template](name, cls);
  return {
    "package.json": `${JSON.stringify(pkg, null, 2)}\n`,
    "tsconfig.json": `${JSON.stringify(tsconfig, null, 2)}\n`,
    "handler.ts": t.handler,
    "main.ts": t.main,
    "handler.test.ts": t.test,
    "README.md": readme(name, cls, template, t.try),
    ".gitignore": "node_modules\n",
  };
}

interface Code {
  handler: string;
  main: string;
  test: string;
  try: string;
}

const TEMPLATE_CODE: Record<Template, (name: string, cls: string) => Code> = {
  basic: (name, cls) => ({
    handler: `import { errors } from "@micro-ts/micro";

export class ${cls} {
  /** ${cls}.Hello */
  async hello(req: { name?: string }): Promise<{ msg: string }> {
    if (!req.name) throw errors.badRequest("${name}.hello", "name is required");
    return { msg: \`Hello \${req.name}\` };
  }

  /** ${cls}.Count: a server stream */
  async *count(req: { to?: number }): AsyncGenerator<{ n: number }> {
    for (let n = 1; n <= (req.to ?? 3); n++) yield { n };
  }
}
`,
    main: `import { Service } from "@micro-ts/micro";
import { ${cls} } from "./handler.ts";

const service = new Service({ name: "${name}", version: "0.1.0" });
service.handle(new ${cls}());
await service.run();
`,
    test: `import { strict as assert } from "node:assert";
import { test } from "node:test";
import { isMicroError } from "@micro-ts/micro";
import { ${cls} } from "./handler.ts";

test("hello greets by name", async () => {
  assert.deepEqual(await new ${cls}().hello({ name: "Ada" }), { msg: "Hello Ada" });
});

test("hello without a name is a 400", async () => {
  await assert.rejects(new ${cls}().hello({}), (e) => isMicroError(e) && e.code === 400);
});

test("count streams 1..to", async () => {
  const got: number[] = [];
  for await (const x of new ${cls}().count({ to: 3 })) got.push(x.n);
  assert.deepEqual(got, [1, 2, 3]);
});
`,
    try: `micro call ${name} ${cls}.Hello '{"name":"Ada"}'\nmicro ${name} hello --name=Ada\ncurl -d '{"name":"Ada"}' http://127.0.0.1:8080/${name}/hello`,
  }),
  pubsub: (name, cls) => ({
    handler: `export interface Message {
  id: string;
  text: string;
}

/** What the subscriber has seen; shared by the subscriber and the handler. */
export class Inbox {
  readonly messages: Message[] = [];

  /** Called for every message on the "${name}.messages" topic. */
  receive(msg: Message): void {
    this.messages.push(msg);
    console.log(\`received \${msg.id}: \${msg.text}\`);
  }
}

export class ${cls} {
  constructor(private readonly inbox: Inbox) {}

  /** ${cls}.Received: the messages seen so far */
  async received(): Promise<{ messages: Message[] }> {
    return { messages: this.inbox.messages };
  }
}
`,
    main: `import { Service } from "@micro-ts/micro";
import { ${cls}, Inbox, type Message } from "./handler.ts";

const inbox = new Inbox();
const service = new Service({ name: "${name}", version: "0.1.0" });
service.handle(new ${cls}(inbox));
service.subscribe<Message>("${name}.messages", (msg) => inbox.receive(msg), { queue: "${name}" });
await service.run();
`,
    test: `import { strict as assert } from "node:assert";
import { test } from "node:test";
import { ${cls}, Inbox } from "./handler.ts";

test("messages are kept in order", async () => {
  const inbox = new Inbox();
  inbox.receive({ id: "1", text: "a" });
  inbox.receive({ id: "2", text: "b" });
  assert.deepEqual((await new ${cls}(inbox).received()).messages.map((m) => m.id), ["1", "2"]);
});
`,
    try: `micro publish ${name}.messages '{"id":"1","text":"hi"}'\nmicro call ${name} ${cls}.Received`,
  }),
  crud: (name, cls) => ({
    handler: `import { errors, memoryStore, type Store } from "@micro-ts/micro";

export interface Item {
  id: string;
  [field: string]: unknown;
}

export class ${cls} {
  constructor(private readonly store: Store = memoryStore()) {}

  async create(req: Item): Promise<Item> {
    if (!req.id) throw errors.badRequest("${name}.create", "id is required");
    await this.store.write({ key: req.id, value: JSON.parse(JSON.stringify(req)) }, { ifNotExists: true });
    return req;
  }

  async read(req: { id: string }): Promise<Item> {
    const [rec] = await this.store.read(req.id);
    if (!rec) throw errors.notFound("${name}.read", \`item \${req.id} not found\`);
    return rec.value as Item;
  }

  async update(req: Item): Promise<Item> {
    await this.read(req);
    await this.store.write({ key: req.id, value: JSON.parse(JSON.stringify(req)) });
    return req;
  }

  async delete(req: { id: string }): Promise<Record<string, never>> {
    await this.store.delete(req.id);
    return {};
  }

  async list(): Promise<{ items: Item[] }> {
    const recs = await this.store.read("", { prefix: true });
    return { items: recs.map((r) => r.value as Item) };
  }
}
`,
    main: `import { Service } from "@micro-ts/micro";
import { ${cls} } from "./handler.ts";

const service = new Service({ name: "${name}", version: "0.1.0" });
// In memory: pass fileStore({ ... }) or a plugin's store to keep items across restarts.
service.handle(new ${cls}());
await service.run();
`,
    test: `import { strict as assert } from "node:assert";
import { test } from "node:test";
import { isMicroError } from "@micro-ts/micro";
import { ${cls} } from "./handler.ts";

test("create, read, update, list, delete", async () => {
  const h = new ${cls}();
  await h.create({ id: "1", title: "first" });
  assert.equal((await h.read({ id: "1" })).title, "first");
  await h.update({ id: "1", title: "changed" });
  assert.deepEqual((await h.list()).items, [{ id: "1", title: "changed" }]);
  await h.delete({ id: "1" });
  await assert.rejects(h.read({ id: "1" }), (e) => isMicroError(e) && e.code === 404);
});
`,
    try: `micro call ${name} ${cls}.Create '{"id":"1","title":"first"}'\nmicro ${name} list`,
  }),
};

function readme(name: string, cls: string, template: Template, tryIt: string): string {
  return `# ${name}

A Micro service (template: ${template}), handler \`${cls}\`.

\`\`\`sh
npm install
npm start          # or, with a running \`micro server\`: micro run .
npm test
\`\`\`

Try it:

\`\`\`sh
${tryIt}
\`\`\`
`;
}

/** Writes the service into `dir/NAME` (a new or empty directory); returns the directory. */
export async function scaffold(target: string, template: Template): Promise<{ dir: string; files: string[] }> {
  const dir = resolve(target);
  const name = basename(dir);
  if (!NAME.test(name)) {
    throw new UsageError(`invalid service name ${JSON.stringify(name)}: lower-case letters, digits and - only, starting with a letter`);
  }
  if (!TEMPLATES.includes(template)) throw new UsageError(`unknown template ${template}: one of ${TEMPLATES.join(", ")}`);
  let existing: string[] = [];
  try {
    existing = await readdir(dir);
  } catch {
    // does not exist yet: fine
  }
  if (existing.length > 0) throw new Error(`${target} already exists and is not empty`);
  await mkdir(dir, { recursive: true });
  const out = files(name, template);
  for (const [f, body] of Object.entries(out)) await writeFile(join(dir, f), body);
  return { dir, files: Object.keys(out) };
}
