// Signing oracle: the JS SDK's own signing and verification code, driven over stdin/stdout
// by the Rust conformance tests. One JSON request per line, one JSON answer per line:
//   {"op":"sign","data":<string|object>,"key":"signkey-…","ts":"<unix s>"}  -> {"signature":"<hex>"}
//   {"op":"verify","header":"t=…&s=…","body":<string|object>,"key":"signkey-…","fallback"?:…}
//                                                                            -> {"ok":true,"keyUsed":"…"} | {"ok":false,"error":"…"}
"use strict";
const path = require("node:path");
const readline = require("node:readline");
const sdk = path.join(__dirname, "node_modules", "inngest");
const { signDataWithKey } = require(path.join(sdk, "helpers", "net.cjs"));
const { timingSafeEqual } = require(path.join(sdk, "helpers", "strings.cjs"));

// The SDK's RequestSignature check (components/InngestCommHandler.cjs), which the package
// does not export: parse t/s, 5-minute window, HMAC via signDataWithKey, constant-time compare.
async function verify(header, body, key, fallback) {
  const params = new URLSearchParams(header);
  const ts = params.get("t") || "";
  const sig = params.get("s") || "";
  if (!ts || !sig) throw new Error("Invalid X-Inngest-Signature provided");
  if (Math.abs(Date.now() - Number.parseInt(ts, 10) * 1e3) > 1e3 * 60 * 5) throw new Error("Signature has expired");
  for (const k of [key, fallback].filter(Boolean)) {
    if (timingSafeEqual(await signDataWithKey(body, k, ts, logger), sig)) return k;
  }
  throw new Error("Invalid signature");
}

const logger = { debug() {}, info() {}, warn() {}, error() {} };
const rl = readline.createInterface({ input: process.stdin });
rl.on("line", async (line) => {
  const req = JSON.parse(line);
  try {
    if (req.op === "sign") {
      const signature = await signDataWithKey(req.data, req.key, req.ts, logger);
      process.stdout.write(JSON.stringify({ signature }) + "\n");
    } else if (req.op === "verify") {
      const keyUsed = await verify(req.header, req.body, req.key, req.fallback);
      process.stdout.write(JSON.stringify({ ok: true, keyUsed }) + "\n");
    } else {
      process.stdout.write(JSON.stringify({ ok: false, error: `unknown op ${req.op}` }) + "\n");
    }
  } catch (err) {
    process.stdout.write(JSON.stringify({ ok: false, error: String(err && err.message || err) }) + "\n");
  }
});
