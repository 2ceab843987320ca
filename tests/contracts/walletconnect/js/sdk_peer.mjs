// The official WalletConnect SDK as a peer of rigshare, driven by pytest over stdin/stdout.
//
//   node sdk_peer.mjs wallet|dapp     (then JSON commands, one a line, on stdin)
//
// "wallet" is @reown/walletkit (what MetaMask-class wallets run) with one secp256k1 key;
// "dapp" is @walletconnect/sign-client. Every line this script writes for pytest starts with
// "@@wc " followed by JSON: {"cmd", "ok", "result"|"error"} answers a command, {"event", ...}
// reports something the SDK emitted. Anything else on stdout/stderr is SDK logging.
// The relay is whatever relayUrl pytest names (rigshare's local relay on 127.0.0.1); telemetry
// is off, and netguard.mjs refuses (and reports) any connection that is not loopback.
import { blocked, onBlocked } from "./netguard.mjs";

const { Core } = await import("@walletconnect/core");
const { SignClient } = await import("@walletconnect/sign-client");
const { WalletKit } = await import("@reown/walletkit");
const { Address, Hex, PersonalMessage, Secp256k1, Signature, TypedData } = await import("ox");

const role = process.argv[2];
const USER_REJECTED = { code: 5000, message: "User rejected." };
const METADATA = {
  wallet: { name: "WalletKit test wallet", description: "@reown/walletkit", url: "http://127.0.0.1", icons: [] },
  dapp: { name: "sign-client test dapp", description: "@walletconnect/sign-client", url: "http://127.0.0.1", icons: [] },
};

function send(obj) {
  process.stdout.write(`@@wc ${JSON.stringify(obj)}\n`);
}
onBlocked((target) => send({ event: "blocked", target }));
// A promise the SDK leaves unhandled (a relay error it does not catch) is reported, not fatal:
// the command that waits on it then fails with the reason instead of the process dying.
process.on("unhandledRejection", (reason) => {
  const text = reason instanceof Error ? reason.message : JSON.stringify(reason);
  process.stderr.write(`unhandled rejection in the SDK: ${text}\n`);
  send({ event: "unhandled", reason: text });
});

// The SDK's key-value storage, in memory: nothing is written to disk between test runs.
class MemoryStorage {
  constructor() {
    this.items = new Map();
  }
  async getKeys() {
    return [...this.items.keys()];
  }
  async getEntries() {
    return [...this.items.entries()].map(([k, v]) => [k, structuredClone(v)]);
  }
  async getItem(key) {
    const value = this.items.get(key);
    return value === undefined ? undefined : structuredClone(value);
  }
  async setItem(key, value) {
    this.items.set(key, structuredClone(value));
  }
  async removeItem(key) {
    this.items.delete(key);
  }
}

let client; // SignClient (the wallet's is walletKit.engine.signClient)
let walletKit;
let privateKey;

async function init({ relayUrl, projectId, key, requestQueue = true }) {
  const core = new Core({
    projectId,
    relayUrl,
    storage: new MemoryStorage(),
    logger: process.env.WC_LOG_LEVEL || "silent",
    telemetryEnabled: false,
    customStoragePrefix: `${role}-${process.pid}`,
  });
  // Two calls home have no option to turn them off (telemetryEnabled: false does not cover
  // them); the SDK skips both only in its own test runs (IS_VITEST). They are switched off here,
  // and netguard.mjs would report any other:
  // - WalletKit's init sends an INIT event to pulse.walletconnect.org (EventClient.init);
  // - a wallet asks verify.walletconnect.org about every proposal and request (Verify.resolve)
  //   when the dapp sent no attestation, as a dapp outside a browser never does.
  core.eventClient.init = async () => {};
  core.verify.resolve = async () => undefined;
  if (role === "wallet") {
    privateKey = key;
    // WalletKit hands requests to the wallet one at a time and holds the next one for a second
    // after each answer; requestQueue: false (signConfig.disableRequestQueue) hands them all
    // over at once, for the benchmark's concurrent requests.
    const signConfig = { disableRequestQueue: !requestQueue };
    walletKit = await WalletKit.init({ core, metadata: METADATA.wallet, signConfig });
    client = walletKit.engine.signClient;
    walletKit.on("session_proposal", ({ id, params, verifyContext }) => {
      if (automatic) return approveAutomatically(id);
      send({ event: "session_proposal", id, params, verified: verifyContext?.verified });
    });
    walletKit.on("session_request", ({ id, topic, params }) => {
      if (automatic) return signAutomatically(id, topic, params.request);
      send({ event: "session_request", id, topic, chainId: params.chainId, request: params.request });
    });
    walletKit.on("session_delete", ({ topic }) => send({ event: "session_delete", topic }));
  } else {
    client = await SignClient.init({ core, metadata: METADATA.dapp });
    for (const name of ["session_update", "session_extend", "session_event", "session_delete", "session_expire"]) {
      client.on(name, (args) => send({ event: name, ...args }));
    }
  }
  client.on("session_ping", ({ topic }) => send({ event: "session_ping", topic }));
  return { clientId: await core.crypto.getClientId(), address: key ? address() : null };
}

// The benchmark's wallet: approves every proposal with the namespaces it was given and signs
// every request at once, without a round trip to pytest.
let automatic = null;

function approveAutomatically(id) {
  walletKit.approveSession({ id, namespaces: automatic.namespaces }).then(
    (session) => send({ event: "approved", topic: session.topic }),
    (error) => send({ event: "approve_failed", error: error?.message ?? String(error) }),
  );
}

function signAutomatically(id, topic, request) {
  const response = { id, jsonrpc: "2.0", result: sign(request) };
  walletKit.respondSessionRequest({ topic, response }).catch((error) =>
    send({ event: "respond_failed", error: error?.message ?? String(error) }),
  );
}

function address() {
  return Address.fromPublicKey(Secp256k1.getPublicKey({ privateKey }));
}

function sign(request) {
  const { method, params } = request;
  let payload;
  if (method === "eth_signTypedData_v4") {
    const typed = typeof params[1] === "string" ? JSON.parse(params[1]) : params[1];
    payload = TypedData.getSignPayload(typed);
  } else if (method === "personal_sign") {
    payload = PersonalMessage.getSignPayload(params[0]);
  } else {
    throw new Error(`the test wallet does not sign ${method}`);
  }
  return Signature.toHex(Secp256k1.sign({ payload, privateKey }));
}

function summary(session) {
  return {
    topic: session.topic,
    expiry: session.expiry,
    namespaces: session.namespaces,
    requiredNamespaces: session.requiredNamespaces,
    optionalNamespaces: session.optionalNamespaces,
    peer: session.peer?.metadata?.name,
    acknowledged: session.acknowledged,
  };
}

const commands = {
  init,
  blocked: async () => blocked,
  sessions: async () => client.session.getAll().map(summary),
  ping: async ({ topic }) => {
    await client.ping({ topic });
    return true;
  },
  disconnect: async ({ topic, reason }) => {
    await client.disconnect({ topic, reason: reason ?? { code: 6000, message: "User disconnected." } });
    return true;
  },
  extend: async ({ topic }) => {
    const { acknowledged } = await client.extend({ topic });
    await acknowledged();
    return client.session.get(topic).expiry;
  },
  // -- wallet (WalletKit) --
  automatic: async ({ namespaces }) => {
    automatic = { namespaces };
    return true;
  },
  pair: async ({ uri }) => {
    await walletKit.pair({ uri });
    return true;
  },
  approve: async ({ id, namespaces }) => {
    const session = await walletKit.approveSession({ id, namespaces });
    return summary(session);
  },
  reject: async ({ id }) => {
    await walletKit.rejectSession({ id, reason: USER_REJECTED });
    return true;
  },
  respond: async ({ topic, id, action, request, value }) => {
    const response =
      action === "sign"
        ? { id, jsonrpc: "2.0", result: sign(request) }
        : action === "result"
          ? { id, jsonrpc: "2.0", result: value }
          : { id, jsonrpc: "2.0", error: USER_REJECTED };
    await walletKit.respondSessionRequest({ topic, response });
    return response.result ?? null;
  },
  update: async ({ topic, namespaces }) => {
    const { acknowledged } = await walletKit.updateSession({ topic, namespaces });
    await acknowledged();
    return summary(client.session.get(topic));
  },
  emit: async ({ topic, name, data, chainId }) => {
    await walletKit.emitSessionEvent({ topic, event: { name, data }, chainId });
    return true;
  },
  // -- dapp (SignClient) --
  connect: async ({ optionalNamespaces }) => {
    const { uri, approval } = await client.connect({ optionalNamespaces });
    approval().then(
      (session) => send({ event: "session_connect", ...summary(session) }),
      (error) => send({ event: "session_connect_error", error: { code: error?.code, message: error?.message } }),
    );
    return { uri };
  },
  request: async ({ topic, chainId, method, params }) => {
    try {
      return { result: await client.request({ topic, chainId, request: { method, params } }) };
    } catch (error) {
      return { error: { code: error?.code, message: error?.message ?? String(error) } };
    }
  },
  exit: async () => {
    setTimeout(() => process.exit(0), 10);
    return true;
  },
};

let buffer = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  buffer += chunk;
  let newline;
  while ((newline = buffer.indexOf("\n")) >= 0) {
    const line = buffer.slice(0, newline);
    buffer = buffer.slice(newline + 1);
    if (line.trim()) run(JSON.parse(line));
  }
});
process.stdin.on("end", () => process.exit(0));

async function run({ cmd, op, ...args }) {
  try {
    const handler = commands[op];
    if (!handler) throw new Error(`unknown op ${op}`);
    send({ cmd, ok: true, result: await handler(args) });
  } catch (error) {
    send({ cmd, ok: false, error: error?.message ?? String(error) });
  }
}
send({ event: "ready", role, node: process.version });
