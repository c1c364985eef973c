/** How often the dashboard's script reads /v1/dashboard, ms. */
export const POLL_MS = 2000;
