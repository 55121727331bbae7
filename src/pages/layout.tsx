import type { Child } from "hono/jsx";

/**
 * The frame of every page a person sees (merchants, the operator): server-rendered, no script,
 * escaped by Hono's JSX. Pages build on it so they look and behave alike.
 */
export function Layout(props: { title: string; children?: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title}</title>
      </head>
      <body>
        <main>
          <h1>{props.title}</h1>
          {props.children}
        </main>
      </body>
    </html>
  );
}
