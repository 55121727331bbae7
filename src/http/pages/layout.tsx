import { raw } from "hono/html";
import type { Child } from "hono/jsx";

/**
 * The look of every page: system fonts, readable line length, visible focus, enough contrast, and
 * tables that scroll on a phone. Inline (no extra request, no build); the pages carry no script.
 */
const CSS = `
:root{color-scheme:light dark;--fg:#1b1f23;--muted:#57606a;--bg:#fff;--line:#d0d7de;--ok:#116329;--warn:#7d4e00;--bad:#a40e26;--accent:#0550ae;--soft:#f6f8fa}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9da7b3;--bg:#0d1117;--line:#30363d;--ok:#3fb950;--warn:#d29922;--bad:#f85149;--accent:#58a6ff;--soft:#161b22}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header,main,footer{max-width:72rem;margin:0 auto;padding:1rem 1.25rem}
header{display:flex;gap:1rem;align-items:center;justify-content:space-between;border-bottom:1px solid var(--line)}
header .brand{font-weight:600}
.narrow{max-width:40rem}
table.compact{width:auto}table.compact th,table.compact td{padding-right:2rem}
h1{font-size:1.6rem;margin:.5rem 0 1rem}
h2{font-size:1.2rem;margin:1.75rem 0 .5rem}
a{color:var(--accent)}
a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:var(--bg);padding:.25rem .5rem}
.card{border:1px solid var(--line);border-radius:8px;padding:1rem 1.25rem;margin:1rem 0;background:var(--soft)}
.notice{border-left:4px solid var(--warn);padding:.5rem 1rem;margin:1rem 0;background:var(--soft)}
.problem{border-left-color:var(--bad)}
.button,button{display:inline-block;font:inherit;padding:.45rem 1rem;border-radius:6px;border:1px solid var(--accent);background:var(--accent);color:#fff;text-decoration:none;cursor:pointer}
button.secondary{background:transparent;color:var(--accent)}
input[type=text],input[type=password],input[type=search]{font:inherit;padding:.4rem .6rem;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--fg);min-width:16rem}
label{display:block;font-weight:600;margin:.5rem 0 .25rem}
form.inline{display:inline}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.95rem}
caption{text-align:left;color:var(--muted);padding:.25rem 0}
th,td{text-align:left;vertical-align:top;padding:.4rem .6rem;border-bottom:1px solid var(--line)}
th{font-weight:600}
code,.id{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em;overflow-wrap:anywhere}
td .id.whole{white-space:nowrap}
.muted{color:var(--muted)}
.state{font-weight:600}
.state-ok{color:var(--ok)}.state-warn{color:var(--warn)}.state-bad{color:var(--bad)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{font-weight:600}dd{margin:0}dd ul{margin:0;padding-left:1.2rem}
nav.pager{display:flex;gap:1rem;margin:1rem 0}
`;

/**
 * The frame of every page a person sees (merchants, the operator): server-rendered, no script,
 * escaped by Hono's JSX. Pages build on it so they look and behave alike. `nav` goes in the header
 * (the console's sign-out form); `wide` gives tables the whole width.
 */
export function Layout(props: { title: string; children?: Child; nav?: Child; wide?: boolean }) {
  return (
    <>
      {raw("<!DOCTYPE html>")}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <meta name="referrer" content="no-referrer" />
          <title>{props.title}</title>
          <style>{raw(CSS)}</style>
        </head>
        <body>
          <a class="skip" href="#content">
            Skip to content
          </a>
          <header class={props.wide ? undefined : "narrow"}>
            <span class="brand">Messenger sales data</span>
            {props.nav}
          </header>
          <main id="content" class={props.wide ? undefined : "narrow"}>
            <h1>{props.title}</h1>
            {props.children}
          </main>
        </body>
      </html>
    </>
  );
}
