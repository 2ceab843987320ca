// Keeps this process on loopback: every TCP/TLS connection (the SDK's websocket, fetch, anything
// else) and every DNS lookup for a host that is not 127.0.0.1, ::1 or localhost is refused and
// recorded. pytest asserts that nothing was recorded, so an SDK that starts calling home (the
// Verify API, the echo server, pulse analytics, relay.walletconnect.org) fails the test instead of
// sending traffic off the machine.
import dns from "node:dns";
import net from "node:net";

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost", "::ffff:127.0.0.1"]);
export const blocked = [];
let listener = () => {};

export function onBlocked(fn) {
  listener = fn;
}

function refuse(what) {
  blocked.push(what);
  listener(what);
  const error = new Error(`rigshare test guard: ${what} is not loopback`);
  error.code = "ENETUNREACH";
  return error;
}

// net.Socket.prototype.connect(options | port[, host] | [normalizedArgs]) is what net.connect,
// tls.connect, http(s) agents, ws and undici (global fetch) all end up in.
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(...args) {
  const first = args[0];
  let options;
  if (Array.isArray(first)) options = first[0];
  else if (first !== null && typeof first === "object") options = first;
  else options = { port: first, host: typeof args[1] === "string" ? args[1] : "localhost" };
  if (!options?.path) {
    const host = String(options?.host ?? "localhost").replace(/^\[|\]$/g, "");
    if (!LOOPBACK.has(host)) {
      const error = refuse(`${host}:${options?.port}`);
      process.nextTick(() => this.destroy(error));
      return this;
    }
  }
  return connect.apply(this, args);
};

const lookup = dns.lookup;
dns.lookup = function guardedLookup(hostname, ...rest) {
  if (!LOOPBACK.has(hostname)) {
    const callback = rest[rest.length - 1];
    const error = refuse(`dns ${hostname}`);
    process.nextTick(() => callback(error));
    return undefined;
  }
  return lookup.call(this, hostname, ...rest);
};
const promiseLookup = dns.promises.lookup;
dns.promises.lookup = async function guardedPromiseLookup(hostname, ...rest) {
  if (!LOOPBACK.has(hostname)) throw refuse(`dns ${hostname}`);
  return promiseLookup.call(this, hostname, ...rest);
};
