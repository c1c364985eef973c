/**
 * The dashboard's script (bundled by scripts/build-dashboard.ts into
 * ../app.generated.ts, which the control API serves as /dashboard/app.js).
 * It reads GET /v1/dashboard every POLL_MS with a bearer token taken from the
 * URL fragment (#token=…, which browsers never send) or the sign-in form, and
 * kept in sessionStorage.
 */
import type { DashboardView } from "../../dashboard-view";
import { POLL_MS } from "../poll";
import { byId } from "./dom";
import { clock } from "./format";
import { remember, renderMap } from "./map";
import { renderEvents, renderOrigins, renderPops, renderPurges, renderTiles } from "./tables";

const TOKEN_KEY = "outpost-dashboard-token";
let timer: ReturnType<typeof setTimeout> | null = null;

function takeTokenFromFragment(): void {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!match) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  history.replaceState(null, "", location.pathname + location.search);
}

function setStatus(state: "connecting" | "live" | "error", text: string): void {
  const status = byId("status");
  status.setAttribute("data-state", state);
  status.textContent = text;
}

function showSignIn(message: string): void {
  if (timer) clearTimeout(timer);
  timer = null;
  byId("board").hidden = true;
  byId("signin").hidden = false;
  byId("signin-error").textContent = message;
  setStatus("error", "signed out");
}

function render(view: DashboardView): void {
  remember(view);
  renderTiles(view);
  renderMap(view);
  renderPops(view);
  renderOrigins(view);
  renderPurges(view);
  renderEvents(view);
}

async function poll(): Promise<void> {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return showSignIn("");
  try {
    const response = await fetch("/v1/dashboard", { headers: { authorization: `Bearer ${token}` }, cache: "no-store" });
    if (response.status === 401 || response.status === 403) {
      sessionStorage.removeItem(TOKEN_KEY);
      return showSignIn(response.status === 401 ? "That token was not accepted." : "That token lacks the read scope.");
    }
    if (!response.ok) throw new Error(`control API answered ${response.status}`);
    const view = (await response.json()) as DashboardView;
    byId("signin").hidden = true;
    byId("board").hidden = false;
    render(view);
    setStatus("live", `live · updated ${clock(view.generatedAt)}`);
  } catch (err) {
    setStatus("error", `cannot reach the control API (${(err as Error).message}); retrying`);
  }
  timer = setTimeout(() => void poll(), POLL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  takeTokenFromFragment();
  byId("signin").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = byId<HTMLInputElement>("token");
    const value = input.value.trim();
    input.value = "";
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    void poll();
  });
  // A #token link opened on this page already: take it too.
  window.addEventListener("hashchange", () => {
    if (!/token=/.test(location.hash)) return;
    takeTokenFromFragment();
    if (timer) clearTimeout(timer);
    void poll();
  });
  void poll();
});
