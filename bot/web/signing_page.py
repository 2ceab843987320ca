"""The signing page's HTML, CSS and JavaScript: all inline, nothing loaded from elsewhere.

The script asks the browser wallet (EIP-1193 ``window.ethereum``) for an account, switches it
to the request's chain for typed data, asks it to sign (``eth_signTypedData_v4`` or
``personal_sign``) and posts ``{signature, address}`` to the page's own URL. Every text comes
from the page's ``texts`` (the locale catalogue); the request from the ``request`` data block.
"""

from __future__ import annotations

import html
import json
from string import Template

_PAGE = Template("""<!doctype html>
<html lang="$lang">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>$title</title>
<style nonce="$nonce">
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f4f5f7;color:#1b1d21}
main{max-width:34rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:12px;
box-shadow:0 1px 4px rgba(0,0,0,.08)}
h1{font-size:1.2rem;margin:0 0 1rem}
.summary{font-size:1.05rem;font-weight:600;padding:.8rem;background:#eef3ff;border-radius:8px;
word-break:break-word}
.muted{color:#5b6170;font-size:.9rem;word-break:break-all}
button{font-size:1rem;padding:.75rem 1.2rem;border:0;border-radius:8px;background:#2d5bff;
color:#fff;cursor:pointer;width:100%;margin-top:1rem}
button:disabled{background:#9aa6c9;cursor:default}
#status{margin-top:1rem;min-height:1.5rem}
.ok{color:#147a3d;font-weight:600}.err{color:#b3261e;font-weight:600}
pre{white-space:pre-wrap;word-break:break-all;font-size:.8rem;background:#f7f7f9;padding:.6rem}
a{color:#2d5bff}
</style>
</head>
<body>
<main>
<h1>$title</h1>
$body
</main>
$script
</body>
</html>
""")

_FORM = Template("""<p>$intro</p>
<p class="summary" id="summary">$summary</p>
<p class="muted">$who</p>
<p class="muted">$expires</p>
<details><summary>$details_label</summary><pre id="details">$details</pre></details>
<button id="sign" type="button">$button</button>
<p id="status" role="status"></p>
<p id="open-mm" hidden><a id="mm-link" href="#">$open_metamask</a></p>""")

# The data blocks are never executed; ``<``, ``>`` and ``&`` are escaped inside them so no
# request text can close the block.
_SCRIPT = Template("""<script type="application/json" id="request" nonce="$nonce">$request</script>
<script type="application/json" id="texts" nonce="$nonce">$texts</script>
<script nonce="$nonce">
"use strict";
(function () {
  const req = JSON.parse(document.getElementById("request").textContent);
  const T = JSON.parse(document.getElementById("texts").textContent);
  const button = document.getElementById("sign");
  const statusLine = document.getElementById("status");
  const fmt = (text, values) => text.replace(/\\{(\\w+)\\}/g, (m, k) => (k in values ? String(values[k]) : m));
  const show = (text, kind) => { statusLine.textContent = text; statusLine.className = kind || ""; };

  async function sign() {
    const eth = window.ethereum;
    if (!eth || typeof eth.request !== "function") {
      show(T.page_no_wallet, "err");
      const link = document.getElementById("mm-link");
      link.href = "https://metamask.app.link/dapp/" + location.host + location.pathname;
      document.getElementById("open-mm").hidden = false;
      return;
    }
    button.disabled = true;
    try {
      show(T.page_waiting);
      const accounts = await eth.request({ method: "eth_requestAccounts" });
      let account = accounts && accounts[0];
      if (req.signer) {
        const match = (accounts || []).find((a) => a.toLowerCase() === req.signer.toLowerCase());
        if (!match) {
          show(fmt(T.page_wrong_account, { account: account || "-", signer: req.signer }), "err");
          return;
        }
        account = match;
      }
      let signature;
      if (req.method === "eth_signTypedData_v4") {
        const want = "0x" + BigInt(req.chain_id).toString(16);
        const have = String(await eth.request({ method: "eth_chainId" })).toLowerCase();
        if (have !== want) {
          try {
            await eth.request({ method: "wallet_switchEthereumChain", params: [{ chainId: want }] });
          } catch (e) {
            show(fmt(T.page_switch_refused, { chain: req.chain_id }), "err");
            return;
          }
        }
        signature = await eth.request({ method: "eth_signTypedData_v4", params: [account, req.typed_data_json] });
      } else {
        signature = await eth.request({ method: "personal_sign", params: [req.message_hex, account] });
      }
      show(T.page_sending);
      let response;
      try {
        response = await fetch(location.pathname, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          credentials: "same-origin",
          body: JSON.stringify({ signature: signature, address: account }),
        });
      } catch (e) {
        show(T.page_network_error, "err");
        return;
      }
      const answer = await response.json();
      show(answer.message, response.ok ? "ok" : "err");
      if (response.ok) { button.hidden = true; }
    } catch (e) {
      if (e && e.code === 4001) { show(T.page_rejected, "err"); }
      else { show(fmt(T.page_wallet_error, { reason: (e && e.message) || String(e) }), "err"); }
    } finally {
      button.disabled = false;
    }
  }
  button.addEventListener("click", sign);
})();
</script>""")


def _json_block(value: object) -> str:
    return (
        json.dumps(value, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def signing_html(
    *, nonce: str, lang: str, texts: dict[str, str], request: dict, fields: dict[str, str]
) -> str:
    """The page for a pending request. ``fields`` (already localized, not yet escaped):
    summary, who, expires, details."""
    e = html.escape
    body = _FORM.substitute(
        intro=e(texts["page_intro"]),
        summary=e(fields["summary"]),
        who=e(fields["who"]),
        expires=e(fields["expires"]),
        details_label=e(texts["page_details"]),
        details=e(fields["details"]),
        button=e(texts["page_button"]),
        open_metamask=e(texts["page_open_metamask"]),
    )
    script = _SCRIPT.substitute(nonce=nonce, request=_json_block(request), texts=_json_block(texts))
    return _PAGE.substitute(
        lang=e(lang), title=e(texts["page_title"]), nonce=nonce, body=body, script=script
    )


def message_html(*, nonce: str, lang: str, title: str, text: str) -> str:
    """A page that only says something (unknown, used or expired link)."""
    body = f'<p class="err">{html.escape(text)}</p>'
    return _PAGE.substitute(
        lang=html.escape(lang), title=html.escape(title), nonce=nonce, body=body, script=""
    )
