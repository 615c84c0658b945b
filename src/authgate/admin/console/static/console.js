/* authgate admin console: plain JavaScript over the /auth/admin JSON API (no build step, no
   CDN). The page is served by the Python package; every call sends the session's CSRF token. */
"use strict";

const body = document.body;
const BASE = body.dataset.api;
const CSRF_COOKIE = body.dataset.csrfCookie;
const CSRF_HEADER = body.dataset.csrfHeader;
let csrfToken = "";
let me = null;

/* ---------- helpers ---------- */
function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "onclick") node.addEventListener("click", v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function readCookie(name) {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return "";
}

class ApiError extends Error {
  constructor(status, data) {
    super((data && data.message) || "The request failed (" + status + ")");
    this.status = status;
    this.code = data && data.code;
  }
}

async function api(method, path, payload) {
  const headers = { "Accept": "application/json" };
  if (payload !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers[CSRF_HEADER] = csrfToken || readCookie(CSRF_COOKIE);
  const r = await fetch(BASE + path, {
    method, headers, credentials: "same-origin",
    body: payload === undefined ? undefined : JSON.stringify(payload),
  });
  let data = null;
  try { data = await r.json(); } catch (_) { data = null; }
  if (!r.ok) {
    const err = new ApiError(r.status, data);
    if (r.status === 401 && me && !path.startsWith("/login") && !path.startsWith("/totp")) {
      signedOut("Your session ended. Please sign in again.");
    }
    throw err;
  }
  return data;
}

function say(message, bad) {
  const box = $("status");
  box.replaceChildren(el("p", { class: bad ? "bad" : null, text: message }));
}

function count(n, one, many) { return `${n} ${n === 1 ? one : many || one + "s"}`; }

function fmtDate(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

function confirmAction(text, okLabel) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel || "Confirm";
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

/* ---------- forms: errors next to the field that caused them ---------- */
const FIELD_OF_CODE = {
  ADMIN_USER_EXISTS: "email", USER_ALREADY_EXISTS: "email", EMAIL_ALREADY_EXISTS: "email",
  INVALID_SECRET_KEY: "secretKey", ADMIN_PASSWORD_TOO_SHORT: "password",
  PASSWORD_TOO_SHORT: "password", PASSWORD_TOO_LONG: "password", PASSWORD_TOO_WEAK: "password",
  PASSWORD_TOO_COMMON: "password", PASSWORD_CONTAINS_IDENTIFIER: "password",
  ROLE_ALREADY_EXISTS: "name", ROLE_NAME_REQUIRED: "name", TENANT_ALREADY_EXISTS: "slug",
  INVALID_SLUG_FORMAT: "slug", ADMIN_TOTP_REQUIRED: "totpCode", MFA_CODE_INVALID: "totpCode",
  ROLE_PERMISSION_VALIDATION_FAILED: "permissions", GUARD_NOT_ALLOWED: "name",
};

function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((n) => n.remove());
  form.querySelectorAll("[aria-invalid]").forEach((n) => {
    n.removeAttribute("aria-invalid");
    const ids = (n.getAttribute("aria-describedby") || "").split(" ").filter((i) => !i.endsWith("-error"));
    if (ids.length) n.setAttribute("aria-describedby", ids.join(" ")); else n.removeAttribute("aria-describedby");
  });
  const top = form.querySelector(".form-error");
  if (top) top.textContent = "";
}

function fieldFor(form, err) {
  const named = (name) => form.elements.namedItem(name);
  let name = FIELD_OF_CODE[err.code];
  if (name === "password" && !named("password") && named("newPassword")) name = "newPassword";
  if (name === "totpCode" && !named("totpCode") && named("code")) name = "code";
  if (name && named(name) && named(name).type !== "hidden") return named(name);
  const first = (err.message || "").split(/[\s.]/)[0].toLowerCase();
  for (const input of form.querySelectorAll("input, select, textarea")) {
    if (input.name && input.name.toLowerCase() === first && !input.closest("[hidden]")) return input;
  }
  if (/password/i.test(err.message || "")) return named("password") || named("newPassword");
  return null;
}

function showError(form, err) {
  clearErrors(form);
  if (form.id === "signin-form" && err.code === "ADMIN_TOTP_REQUIRED") $("signin-totp-field").hidden = false;
  const field = fieldFor(form, err);
  if (field && field.id) {
    const id = field.id + "-error";
    const msg = el("p", { class: "field-error", id, text: err.message });
    field.insertAdjacentElement("afterend", msg);
    field.setAttribute("aria-invalid", "true");
    const ids = (field.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    field.setAttribute("aria-describedby", [...ids, id].join(" "));
    field.focus();
  } else {
    const top = form.querySelector(".form-error");
    if (top) top.textContent = err.message; else say(err.message, true);
  }
}

function values(form) {
  const out = {};
  for (const input of form.querySelectorAll("input, select, textarea")) {
    if (!input.name || input.closest("[hidden]") || input.type === "checkbox") continue;
    if (input.value.trim() !== "") out[input.name] = input.type === "password" ? input.value : input.value.trim();
  }
  return out;
}

function onSubmit(form, handler) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    try {
      await handler(values(form));
    } catch (err) {
      if (err instanceof ApiError) showError(form, err); else { showError(form, { message: String(err) }); }
    } finally {
      if (button) button.disabled = false;
    }
  });
}

function table(caption, columns, rows, empty) {
  if (!rows.length) return el("p", { text: empty || "Nothing here yet." });
  const head = el("tr", {}, ...columns.map((c) => el("th", { scope: "col", text: c.label })));
  const lines = rows.map((row) => el("tr", {}, ...columns.map((c, i) => {
    const value = c.render(row);
    const cell = i === 0 ? el("th", { scope: "row" }) : el("td", { class: c.num ? "num" : null });
    cell.append(value instanceof Node ? value : document.createTextNode(value === null || value === undefined ? "—" : String(value)));
    return cell;
  })));
  return el("div", { class: "table-wrap" }, el("table", {}, el("caption", { text: caption }),
    el("thead", {}, head), el("tbody", {}, ...lines)));
}

function actionButton(label, accessibleName, handler, danger) {
  return el("button", { type: "button", class: danger ? "danger" : null, "aria-label": accessibleName, onclick: handler }, label);
}

async function guarded(fn, done) {
  try { await fn(); if (done) say(done); } catch (err) { say(err.message, true); }
}

/* ---------- pages ---------- */
const PAGES = ["signin", "bootstrap", "dashboard", "users", "roles", "permissions", "tenants",
               "blocked-domains", "admins", "audit", "account"];
const LOADERS = {};

function show(page) {
  for (const p of PAGES) $("page-" + p).hidden = p !== page;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.getAttribute("href") === "#/" + page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const title = $("page-" + page).querySelector("h1");
  document.title = (title ? title.textContent + " · " : "") + body.dataset.app + " admin";
}

async function route() {
  if (!me) return;
  const page = (location.hash.replace(/^#\//, "") || "dashboard").split("?")[0];
  const target = PAGES.includes(page) && !["signin", "bootstrap"].includes(page) ? page : "dashboard";
  show(target);
  $("status").replaceChildren();
  $("main").focus();
  try { await LOADERS[target](); } catch (err) { say(err.message, true); }
}

function signedIn(admin) {
  me = admin;
  $("nav").hidden = false;
  $("who").hidden = false;
  $("who-email").textContent = admin.email;
  if (!location.hash || location.hash === "#/signin") location.hash = "#/dashboard"; else route();
}

function signedOut(message) {
  me = null;
  csrfToken = "";
  $("nav").hidden = true;
  $("who").hidden = true;
  show(body.dataset.bootstrap === "1" ? "bootstrap" : "signin");
  if (message) say(message, true);
  const first = document.querySelector(".page:not([hidden]) input");
  if (first) first.focus();
}

/* sign in, bootstrap, reset */
onSubmit($("signin-form"), async (v) => {
  const r = await api("POST", "/login", v);
  csrfToken = r.csrfToken;
  $("signin-form").reset();
  $("signin-totp-field").hidden = true;
  say("Signed in.");
  signedIn(r.admin);
});

onSubmit($("bootstrap-form"), async (v) => {
  await api("POST", "/signup", v);
  const r = await api("POST", "/login", { email: v.email, password: v.password });
  csrfToken = r.csrfToken;
  body.dataset.bootstrap = "0";
  $("bootstrap-form").reset();
  say("Admin created. You are signed in.");
  signedIn(r.admin);
});

onSubmit($("reset-form"), async (v) => {
  await api("POST", "/reset-password", v);
  $("reset-form").reset();
  say("Password reset. Sign in with the new password.");
});

$("sign-out").addEventListener("click", () => guarded(async () => {
  await api("POST", "/logout");
  signedOut();
  say("Signed out.");
}));

/* dashboard */
LOADERS.dashboard = async () => {
  const r = await api("GET", "/api/stats");
  const s = r.stats;
  const cards = [["Users", s.totalUsers], ["Active users", s.activeUsers], ["Verified users", s.verifiedUsers],
                 ["Sign-ups (7 days)", s.recentSignups], ["Roles", s.totalRoles], ["Tenants", s.totalTenants]];
  $("stat-cards").replaceChildren(...cards.map(([label, n]) => el("li", {}, el("span", { class: "n", text: n }), label)));
  drawChart($("chart"), r.activityData);
};

function drawChart(target, days) {
  const ns = "http://www.w3.org/2000/svg";
  const max = Math.max(1, ...days.map((d) => d.users));
  const w = 420, h = 180, pad = 24, bw = (w - pad * 2) / days.length;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Sign-ups per day: " + days.map((d) => `${d.name} ${d.users}`).join(", "));
  days.forEach((d, i) => {
    const bh = (h - pad * 2) * (d.users / max);
    const x = pad + i * bw + bw * 0.15, y = h - pad - bh;
    const rect = document.createElementNS(ns, "rect");
    Object.entries({ x, y, width: bw * 0.7, height: Math.max(bh, 1), class: "bar" }).forEach(([k, v]) => rect.setAttribute(k, v));
    const label = document.createElementNS(ns, "text");
    Object.entries({ x: x + bw * 0.35, y: h - 6, "text-anchor": "middle" }).forEach(([k, v]) => label.setAttribute(k, v));
    label.textContent = d.name;
    const count = document.createElementNS(ns, "text");
    Object.entries({ x: x + bw * 0.35, y: y - 4, "text-anchor": "middle" }).forEach(([k, v]) => count.setAttribute(k, v));
    count.textContent = d.users;
    svg.append(rect, label, count);
  });
  const data = table("Sign-ups per day", [{ label: "Day", render: (d) => d.name }, { label: "Sign-ups", render: (d) => d.users, num: true }], days);
  data.classList.add("sr-only");
  target.replaceChildren(svg, data);
}

/* users */
const users = { page: 1, limit: 20, filter: {}, current: null };

LOADERS.users = async () => {
  const q = new URLSearchParams({ page: users.page, limit: users.limit });
  for (const [k, v] of Object.entries(users.filter)) if (v) q.set(k, v);
  const r = await api("GET", "/api/users?" + q);
  const meta = r.meta || { page: users.page, totalPages: 1, total: r.data.length };
  $("users-table").replaceChildren(table(count(meta.total, "user"), [
    { label: "Email", render: (u) => u.email },
    { label: "Phone", render: (u) => u.phone },
    { label: "Status", render: (u) => (u.isActive ? "Active" : "Inactive") },
    { label: "Email verified", render: (u) => (u.emailVerifiedAt ? "Yes" : "No") },
    { label: "MFA", render: (u) => (u.isMfaEnabled ? "On" : "Off") },
    { label: "Created", render: (u) => fmtDate(u.createdAt) },
    { label: "Actions", render: (u) => actionButton("View", "View " + (u.email || u.phone || u.id), () => openUser(u.id)) },
  ], r.data, "No users match."));
  $("users-page").textContent = `Page ${meta.page} of ${Math.max(1, meta.totalPages)}`;
  $("users-prev").disabled = meta.page <= 1;
  $("users-next").disabled = meta.page >= meta.totalPages;
  if (users.current) await openUser(users.current, true);
};

$("users-filter").addEventListener("submit", (e) => {
  e.preventDefault();
  users.filter = values($("users-filter"));
  users.page = 1;
  users.current = null;
  $("user-detail").hidden = true;
  guarded(LOADERS.users);
});
$("users-prev").addEventListener("click", () => { users.page -= 1; guarded(LOADERS.users); });
$("users-next").addEventListener("click", () => { users.page += 1; guarded(LOADERS.users); });

/* A tenant's role is held inside that tenant: the ticked roles go as roleIds (outside
   tenants) and tenantRoles (one entry per tenant). A tenant is named only where the user holds
   or is given a role in it, so saving never adds a membership the admin did not ask for. */
function rolesPatch(roles, ticked, u) {
  const global = [], byTenant = new Map();
  for (const a of u.userAccesses || []) if (a.tenantId && (a.roles || []).length) byTenant.set(a.tenantId, []);
  for (const r of roles) {
    if (!ticked.has(r.id)) continue;
    if (!r.tenantId) { global.push(r.id); continue; }
    if (!byTenant.has(r.tenantId)) byTenant.set(r.tenantId, []);
    byTenant.get(r.tenantId).push(r.id);
  }
  const patch = { roleIds: global };
  if (byTenant.size) patch.tenantRoles = [...byTenant].map(([tenantId, roleIds]) => ({ tenantId, roleIds }));
  return patch;
}

function userRoleIds(u) {
  const ids = new Set();
  for (const r of u.roles || []) ids.add(r.id);
  for (const a of u.userAccesses || []) for (const r of a.roles || []) ids.add(r.id);
  if (u.platformAccess) for (const r of u.platformAccess.roles || []) ids.add(r.id);
  return ids;
}

async function openUser(id, quiet) {
  if (users.current !== id) users.rolesEdited = null;
  users.current = id;
  // Only the latest call renders: an earlier one still waiting on the API (a refresh after
  // an action) must not replace what the admin is editing now.
  const gen = (users.renderGen = (users.renderGen || 0) + 1);
  const d = await api("GET", "/api/users/" + encodeURIComponent(id));
  if (gen !== users.renderGen) return;
  const u = d.user;
  const label = u.email || u.phone || u.id;
  $("user-detail-h").textContent = "User " + label;
  const facts = [["Id", u.id], ["Email", u.email], ["Phone", u.phone], ["Status", u.isActive ? "Active" : "Inactive"],
                 ["Email verified", fmtDate(u.emailVerifiedAt)], ["MFA", u.isMfaEnabled ? "On" : "Off"],
                 ["Created", fmtDate(u.createdAt)], ["Trusted devices", (d.trustedDevices || []).length]];
  $("user-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v === null || v === undefined ? "—" : v })]));
  const toggle = $("user-toggle-active");
  toggle.textContent = u.isActive ? "Deactivate user" : "Activate user";
  toggle.className = u.isActive ? "danger" : "";
  toggle.onclick = async () => {
    if (u.isActive && !(await confirmAction(`Deactivate ${label}? Their sessions end at once.`, "Deactivate"))) return;
    await guarded(async () => { await api("PATCH", "/api/users/" + u.id, { isActive: !u.isActive }); await openUser(u.id, true); },
                  u.isActive ? "User deactivated." : "User activated.");
  };
  $("user-revoke-all").onclick = async () => {
    if (!(await confirmAction(`Revoke every session of ${label}?`, "Revoke all"))) return;
    await guarded(async () => { await api("DELETE", `/api/users/${u.id}/sessions`); await openUser(u.id, true); }, "All sessions revoked.");
  };
  $("user-delete").onclick = async () => {
    if (!(await confirmAction(`Delete ${label}? This cannot be undone.`, "Delete"))) return;
    await guarded(async () => {
      await api("DELETE", "/api/users/" + u.id);
      users.current = null;
      $("user-detail").hidden = true;
      await LOADERS.users();
    }, "User deleted.");
  };
  const sessions = d.sessions || [];
  $("user-sessions").replaceChildren(table(count(sessions.length, "active session"), [
    { label: "Device", render: (s) => s.deviceName || s.userAgent || "Unknown device" },
    { label: "IP address", render: (s) => s.ipAddress },
    { label: "Last active", render: (s) => fmtDate(s.lastActive) },
    { label: "Expires", render: (s) => fmtDate(s.expiresAt) },
    { label: "Actions", render: (s) => actionButton("Revoke", "Revoke session " + s.id, async () => {
      if (!(await confirmAction("Revoke this session? That device is signed out.", "Revoke"))) return;
      await guarded(async () => { await api("DELETE", `/api/users/${u.id}/sessions/${s.id}`); await openUser(u.id, true); }, "Session revoked.");
    }, true) },
  ], sessions, "No active sessions."));
  const devices = (d.mfa && d.mfa.totpDevices) || [];
  $("user-devices").replaceChildren(table(count(devices.length, "authenticator device"), [
    { label: "Name", render: (t) => t.deviceName || "Authenticator" },
    { label: "Added", render: (t) => fmtDate(t.createdAt) },
    { label: "Last used", render: (t) => fmtDate(t.lastUsedAt) },
    { label: "Actions", render: (t) => actionButton("Remove", "Remove device " + (t.deviceName || t.id), async () => {
      if (!(await confirmAction("Remove this authenticator device?", "Remove"))) return;
      await guarded(async () => { await api("DELETE", `/api/users/${u.id}/totp-devices/${t.id}`); await openUser(u.id, true); }, "Device removed.");
    }, true) },
  ], devices, "No authenticator devices."));
  const roles = (await api("GET", "/api/roles")).data;
  if (gen !== users.renderGen) return;
  // A refresh of the user being edited keeps the boxes the admin ticked and has not saved yet.
  const edited = users.rolesEdited && users.rolesEdited.user === u.id ? users.rolesEdited.ids : null;
  const have = edited || userRoleIds(u);
  const roleLabel = (r) => r.tenantId ? `${r.name} (${(r.tenant && r.tenant.name) || r.tenantId})` : r.name;
  $("user-roles").replaceChildren(roles.length ? el("div", { class: "checks" }, ...roles.map((r) =>
    el("label", {}, el("input", { type: "checkbox", name: "roleIds", value: r.id, checked: have.has(r.id) }), roleLabel(r))))
    : el("p", { text: "No roles exist yet." }));
  const tickedIds = () => [...$("user-roles-form").querySelectorAll("input[name=roleIds]:checked")].map((i) => i.value);
  $("user-roles").onchange = () => { users.rolesEdited = { user: u.id, ids: new Set(tickedIds()) }; };
  $("user-roles-form").onsubmit = async (e) => {
    e.preventDefault();
    try {
      await api("PATCH", "/api/users/" + u.id, rolesPatch(roles, new Set(tickedIds()), u));
      users.rolesEdited = null;
      say("Roles saved.");
      await openUser(u.id, true);
    } catch (err) { showError($("user-roles-form"), err); }
  };
  $("user-detail").hidden = false;
  if (!quiet) $("user-detail").focus();
}

/* roles and permissions */
LOADERS.roles = async () => {
  const [roles, perms] = await Promise.all([api("GET", "/api/roles"), api("GET", "/api/permissions")]);
  $("roles-table").replaceChildren(table(count(roles.data.length, "role"), [
    { label: "Name", render: (r) => r.name },
    { label: "Guard", render: (r) => r.guard },
    { label: "Permissions", render: (r) => (r.permissions || []).join(", ") || "—" },
    { label: "Active", render: (r) => (r.isActive === false ? "No" : "Yes") },
    { label: "Actions", render: (r) => actionButton("Delete", "Delete role " + r.name, async () => {
      if (!(await confirmAction(`Delete the role ${r.name}?`, "Delete"))) return;
      await guarded(async () => { await api("DELETE", "/api/roles/" + r.id); await LOADERS.roles(); }, "Role deleted.");
    }, true) },
  ], roles.data, "No roles yet."));
  $("role-permissions").replaceChildren(perms.data.length ? el("div", { class: "checks" }, ...perms.data.map((p) =>
    el("label", {}, el("input", { type: "checkbox", name: "permissions", value: p.name }), p.name)))
    : el("p", { text: "No permissions yet: create them on the Permissions page." }));
};
onSubmit($("role-form"), async (v) => {
  const permissions = [...$("role-form").querySelectorAll("input[name=permissions]:checked")].map((i) => i.value);
  await api("POST", "/api/roles", { name: v.name, guard: "web", permissions });
  $("role-form").reset();
  await LOADERS.roles();
  say("Role created.");
});

LOADERS.permissions = async () => {
  const r = await api("GET", "/api/permissions");
  $("permissions-table").replaceChildren(table(count(r.data.length, "permission"), [
    { label: "Name", render: (p) => p.name },
    { label: "Category", render: (p) => p.category },
    { label: "Description", render: (p) => p.description },
    { label: "Guard", render: (p) => p.guard },
    { label: "Actions", render: (p) => actionButton("Delete", "Delete permission " + p.name, async () => {
      if (!(await confirmAction(`Delete the permission ${p.name}?`, "Delete"))) return;
      await guarded(async () => { await api("DELETE", "/api/permissions/" + p.id); await LOADERS.permissions(); }, "Permission deleted.");
    }, true) },
  ], r.data, "No permissions yet."));
};
onSubmit($("permission-form"), async (v) => {
  await api("POST", "/api/permissions", v);
  $("permission-form").reset();
  await LOADERS.permissions();
  say("Permission created.");
});

/* tenants */
LOADERS.tenants = async () => {
  const r = await api("GET", "/api/tenants");
  $("tenants-table").replaceChildren(table(count(r.data.length, "tenant"), [
    { label: "Name", render: (t) => t.name },
    { label: "Slug", render: (t) => t.slug },
    { label: "Description", render: (t) => t.description },
    { label: "Created", render: (t) => fmtDate(t.createdAt) },
    { label: "Actions", render: (t) => actionButton("Delete", "Delete tenant " + t.name, async () => {
      if (!(await confirmAction(`Delete the tenant ${t.name}?`, "Delete"))) return;
      await guarded(async () => { await api("DELETE", "/api/tenants/" + t.id); await LOADERS.tenants(); }, "Tenant deleted.");
    }, true) },
  ], r.data, "No tenants yet."));
};
onSubmit($("tenant-form"), async (v) => {
  await api("POST", "/api/tenants", v);
  $("tenant-form").reset();
  await LOADERS.tenants();
  say("Tenant created.");
});

/* blocked domains */
const domains = { search: "" };
LOADERS["blocked-domains"] = async () => {
  const q = new URLSearchParams({ page: 1, pageSize: 200 });
  if (domains.search) q.set("search", domains.search);
  const [list, stats] = await Promise.all([api("GET", "/api/blocked-email-domains?" + q), api("GET", "/api/blocked-email-domains/stats")]);
  $("domains-stats").textContent = `${count(stats.count, "domain")} blocked (${stats.defaultCount} in the default list).`;
  $("domains-table").replaceChildren(table(count(list.total, "blocked domain"), [
    { label: "Domain", render: (d) => d.domain },
    { label: "Source", render: (d) => d.source },
    { label: "Added", render: (d) => fmtDate(d.createdAt) },
    { label: "Actions", render: (d) => actionButton("Unblock", "Unblock " + d.domain, async () => {
      if (!(await confirmAction(`Unblock ${d.domain}? Sign-ups from it are allowed again.`, "Unblock"))) return;
      await guarded(async () => { await api("DELETE", "/api/blocked-email-domains/" + encodeURIComponent(d.id)); await LOADERS["blocked-domains"](); }, "Domain unblocked.");
    }, true) },
  ], list.data, "No blocked domains."));
};
$("domains-filter").addEventListener("submit", (e) => {
  e.preventDefault();
  domains.search = $("domains-search").value.trim();
  guarded(LOADERS["blocked-domains"]);
});
onSubmit($("domains-form"), async (v) => {
  const list = (v.domains || "").split(/[\s,]+/).filter(Boolean);
  const r = await api("POST", "/api/blocked-email-domains", { domains: list });
  $("domains-form").reset();
  await LOADERS["blocked-domains"]();
  say(`${r.added} added, ${r.skipped} already blocked.`);
});
$("domains-import").addEventListener("click", async () => {
  if (!(await confirmAction("Import the default list of disposable email domains?", "Import"))) return;
  await guarded(async () => {
    const r = await api("POST", "/api/blocked-email-domains/import-defaults");
    await LOADERS["blocked-domains"]();
    say(`${r.imported} imported.`);
  });
});

/* admins */
LOADERS.admins = async () => {
  const r = await api("GET", "/admins");
  $("admins-table").replaceChildren(table(count(r.data.length, "admin"), [
    { label: "Email", render: (a) => a.email },
    { label: "Name", render: (a) => a.name },
    { label: "Two-factor", render: (a) => (a.totpEnabled ? "On" : "Off") },
    { label: "Last sign-in", render: (a) => fmtDate(a.lastLoginAt) },
    { label: "Actions", render: (a) => actionButton("Delete", "Delete admin " + a.email, async () => {
      if (!(await confirmAction(`Delete the admin ${a.email}?`, "Delete"))) return;
      await guarded(async () => {
        await api("DELETE", "/admins/" + a.id);
        if (a.id === me.id) { signedOut("Your admin account was deleted."); return; }
        await LOADERS.admins();
      }, "Admin deleted.");
    }, true) },
  ], r.data));
};
onSubmit($("admin-form"), async (v) => {
  await api("POST", "/admins", v);
  $("admin-form").reset();
  await LOADERS.admins();
  say("Admin added.");
});

/* audit log: users' and admins' events, filtered and paged */
const auditView = { page: 1, limit: 50, filter: {} };

LOADERS.audit = async () => {
  const q = new URLSearchParams({ page: auditView.page, limit: auditView.limit });
  for (const [k, v] of Object.entries(auditView.filter)) {
    if (!v) continue;
    // datetime-local is the admin's local time: send it as an instant
    q.set(k, k === "since" || k === "until" ? new Date(v).toISOString() : v);
  }
  let r;
  try { r = await api("GET", "/api/audit-log?" + q); } catch (err) {
    if (err.status === 404 && err.code === "NOT_FOUND") {
      $("audit-table").replaceChildren(el("p", { text: "This server does not store an audit log yet." }));
      return;
    }
    if (err.status === 400) { showError($("audit-filter"), err); return; }
    throw err;
  }
  const meta = r.meta;
  $("audit-table").replaceChildren(table(count(meta.total, "event"), [
    { label: "When", render: (e) => fmtDate(e.at) },
    { label: "Event", render: (e) => e.action },
    { label: "Outcome", render: (e) => (e.outcome === "failure" ? "Failed" : "OK") },
    { label: "Who", render: (e) => (e.actorType === "admin" ? (e.actorEmail || "secret key") : e.actorType === "user" ? (e.actor || "unknown account") : e.actorType) },
    { label: "User", render: (e) => e.userId },
    { label: "Target", render: (e) => e.target },
    { label: "From", render: (e) => e.ip },
  ], r.data, "No events match."));
  $("audit-page").textContent = `Page ${meta.page} of ${Math.max(1, meta.totalPages)}`;
  $("audit-prev").disabled = meta.page <= 1;
  $("audit-next").disabled = meta.page >= meta.totalPages;
};

$("audit-filter").addEventListener("submit", (e) => {
  e.preventDefault();
  clearErrors($("audit-filter"));
  auditView.filter = values($("audit-filter"));
  auditView.page = 1;
  guarded(LOADERS.audit);
});
$("audit-prev").addEventListener("click", () => { auditView.page -= 1; guarded(LOADERS.audit); });
$("audit-next").addEventListener("click", () => { auditView.page += 1; guarded(LOADERS.audit); });

/* my account */
LOADERS.account = async () => {
  me = await api("GET", "/me");
  $("totp-state").textContent = me.totpEnabled ? "Two-factor sign-in is on." : "Two-factor sign-in is off.";
  $("totp-start").hidden = me.totpEnabled;
  $("totp-setup").hidden = true;
  $("totp-form").hidden = !me.totpEnabled;
  $("totp-submit").textContent = me.totpEnabled ? "Turn off" : "Turn on";
};
$("totp-start").addEventListener("click", () => guarded(async () => {
  const r = await api("POST", "/totp/setup");
  $("totp-qr").src = r.qrCode;
  $("totp-secret").textContent = r.secret;
  $("totp-setup").hidden = false;
  $("totp-form").hidden = false;
  $("totp-code").focus();
}));
onSubmit($("totp-form"), async (v) => {
  const off = me.totpEnabled;
  if (off && !(await confirmAction("Turn two-factor sign-in off?", "Turn off"))) return;
  await api("POST", off ? "/totp/disable" : "/totp/enable", v);
  $("totp-form").reset();
  await LOADERS.account();
  say(off ? "Two-factor sign-in is off." : "Two-factor sign-in is on.");
});
$("sign-out-everywhere").addEventListener("click", async () => {
  if (!(await confirmAction("Sign out of every browser, this one included?", "Sign out everywhere"))) return;
  await guarded(async () => { await api("POST", "/logout", { everywhere: true }); signedOut(); say("Signed out everywhere."); });
});

/* start */
window.addEventListener("hashchange", route);
(async () => {
  try {
    const admin = await api("GET", "/me");
    csrfToken = readCookie(CSRF_COOKIE);
    signedIn(admin);
  } catch (_) {
    signedOut();
  }
})();
