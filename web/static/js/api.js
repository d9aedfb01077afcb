// Small fetch wrapper: sends the session's CSRF token and turns error bodies into messages.
const csrf = document.querySelector('meta[name="csrf-token"]').content;

export async function api(method, url, body, { keepalive = false } = {}) {
  const headers = { "X-CSRF-Token": csrf, Accept: "application/json" };
  const options = { method, headers, keepalive, credentials: "same-origin" };
  if (body instanceof FormData) {
    options.body = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const given = (await response.json()).detail;
      detail = Array.isArray(given) ? given.map((item) => item.msg).join("; ") : given || detail;
    } catch (_) { /* not JSON */ }
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }
  return response.status === 204 ? null : response.json();
}

export { csrf };
