/*
 * The one way the pages talk to the server: same-origin JSON requests with Django's CSRF
 * header. An answer always comes back as { status, ok, data } (data is {} when the body is
 * not JSON), so a page shows the server's own reason; only a network failure rejects, with
 * an Error whose message can be shown as is.
 */

export const UNREACHABLE = "The server cannot be reached; check the connection and try again.";

export function request(url, { method = "GET", json, form, csrfToken } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  if (method !== "GET" && csrfToken) headers["X-CSRFToken"] = csrfToken;
  return fetch(url, { method, credentials: "same-origin", headers, body }).then(
    (response) =>
      response
        .json()
        .catch(() => ({}))
        .then((data) => ({ status: response.status, ok: response.ok, data: data || {} })),
    () => {
      throw new Error(UNREACHABLE);
    },
  );
}

export function postJSON(url, json, csrfToken) {
  return request(url, { method: "POST", json, csrfToken });
}

export function getJSON(url) {
  return request(url);
}

// The reason to show for a refused request: DRF's "detail", else the first field's errors
// ("name: This field is required."), else the fallback with the HTTP status.
export function errorMessage(res, fallback) {
  const data = res.data || {};
  if (typeof data.detail === "string") return data.detail;
  const first = Object.keys(data)[0];
  if (first) {
    const text = [].concat(data[first]).map(String).join(" ");
    return fallback + " " + (first === "non_field_errors" ? text : first + ": " + text);
  }
  if (res.status === 403) return fallback + " Your session may have ended: reload the page.";
  return fallback + " (HTTP " + res.status + ")";
}
