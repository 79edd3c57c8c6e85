// Test stand-in for https://cdn.shopify.com/shopifycloud/app-bridge.js (the CDN is unreachable in tests).
// It does what the pages rely on App Bridge for, the way App Bridge does it:
// - `shopify.idToken()`: a fresh ID token, minted by the test (window.__poseStudioIdToken, a Playwright binding);
// - the patched global fetch: same-origin requests carry `Authorization: Bearer <token>`, retried once with a new
//   token on 401 + `X-Shopify-Retry-Invalid-Session-Request: 1`;
// - the patch-id-token bounce: on a page with `shopify-reload`, load that URL with a fresh `id_token`;
// - `shopify.toast.show()` and the `s-app-nav` element (rendered in the page, where the admin would show it in its
//   sidebar).
(function () {
  'use strict';
  const apiKey = (document.querySelector('meta[name="shopify-api-key"]') || {}).content || '';
  const nativeFetch = window.fetch.bind(window);

  async function idToken() {
    if (typeof window.__poseStudioIdToken !== 'function') throw new Error('no ID token binding in this test');
    return window.__poseStudioIdToken();
  }

  window.fetch = async function fetchWithIdToken(input, init) {
    const request = input instanceof Request ? input : null;
    const url = new URL(request ? request.url : String(input), location.href);
    if (url.origin !== location.origin) return nativeFetch(input, init);
    const attempt = async () => {
      const headers = new Headers((init && init.headers) || (request ? request.headers : undefined));
      headers.set('Authorization', `Bearer ${await idToken()}`);
      return nativeFetch(input, { ...(init || {}), headers });
    };
    let response = await attempt();
    if (response.status === 401 && response.headers.get('X-Shopify-Retry-Invalid-Session-Request') === '1') {
      response = await attempt();
    }
    return response;
  };

  let toastBox = null;
  window.shopify = {
    config: { apiKey, shop: new URLSearchParams(location.search).get('shop') || '' },
    idToken,
    toast: {
      show(message, options = {}) {
        if (!toastBox) {
          toastBox = document.createElement('div');
          toastBox.setAttribute('role', 'status');
          toastBox.className = 'standin-toast';
          document.body.append(toastBox);
        }
        toastBox.textContent = message;
        toastBox.dataset.error = options.isError ? 'true' : 'false';
      },
    },
    loading() {},
  };

  const reload = new URLSearchParams(location.search).get('shopify-reload');
  if (reload) {
    idToken().then((token) => {
      const target = new URL(reload, location.origin);
      target.searchParams.set('id_token', token);
      location.replace(target.pathname + target.search);
    });
  }

  class AppNav extends HTMLElement {
    connectedCallback() {
      if (this.shadowRoot) return;
      const root = this.attachShadow({ mode: 'open' });
      const nav = document.createElement('nav');
      nav.setAttribute('aria-label', 'App');
      const style = document.createElement('style');
      style.textContent = `nav{display:flex;gap:.25rem;padding:.4rem 1rem;background:#1a1a1a;font:13px/1.4 system-ui,sans-serif}
        a{color:#e3e3e3;text-decoration:none;padding:.3rem .6rem;border-radius:6px}a[aria-current]{background:#303030;color:#fff}
        b{color:#fff;padding:.3rem .6rem .3rem 0}`;
      const brand = document.createElement('b');
      brand.textContent = 'Pose Studio';
      nav.append(brand);
      for (const link of this.querySelectorAll('s-link, a')) {
        const a = document.createElement('a');
        a.href = link.getAttribute('href');
        a.textContent = link.textContent.trim();
        if (new URL(a.href).pathname === location.pathname) a.setAttribute('aria-current', 'page');
        nav.append(a);
      }
      root.append(style, nav);
    }
  }
  customElements.define('s-app-nav', AppNav);

  const style = document.createElement('style');
  style.textContent = `.standin-toast{position:fixed;bottom:1rem;left:50%;transform:translateX(-50%);background:#303030;color:#fff;
    padding:.5rem 1rem;border-radius:8px;font:13px system-ui,sans-serif;z-index:10}.standin-toast:empty{display:none}`;
  document.head.append(style);
})();
