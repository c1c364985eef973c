/**
 * nginx for the e2e tests (a real site's server, a cache downstream of a
 * POP): where it is, a configuration that keeps every file it writes in the
 * test's own directory, and a process that stops cleanly.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { findBinary, waitFor } from "./helpers";

/** Debian's nginx, or whatever `command -v nginx` finds; undefined when there is none. */
export const NGINX = findBinary(["/usr/sbin/nginx"], ["nginx"]);

/** A whole configuration: one worker in the foreground, `http` inside an http block whose temporary files all live in `dir`. */
export function nginxConfig(dir: string, http: string): string {
  return `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${http}
}
`;
}

/** nginx on the configuration file in `dir`, once `readyUrl` answers 2xx. */
export async function startNginx(dir: string, configFile: string, readyUrl: string): Promise<ChildProcess> {
  const server = spawn(NGINX!, ["-c", join(dir, configFile), "-p", dir], { stdio: ["ignore", "ignore", "inherit"] });
  await waitFor("nginx", async () => ((await fetch(readyUrl).catch(() => undefined))?.ok ? true : undefined), 10_000);
  return server;
}

/** Stops nginx gracefully (SIGQUIT) and waits for it to exit. */
export async function stopNginx(server: ChildProcess | undefined): Promise<void> {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((resolve) => server.once("exit", resolve));
  server.kill("SIGQUIT");
  await exited;
}
