// Test stand-in for https://cdn.shopify.com/shopifycloud/polaris.js (the CDN is unreachable in tests).
// Minimal custom elements with the same tag names, attributes, properties and events the pages use, so the pages
// are readable and operable in a real browser: form fields render a native, labelled control in a shadow root and
// expose `value` / `checked` / `values` / `files` and `input` / `change` events on the host, as Polaris does.
// Looks are only roughly Polaris-like; behaviour is what the tests check.
(function () {
  'use strict';
  const BASE_CSS = `
    :host{font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,sans-serif;color:#303030}
    .hidden-label{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
    label{display:block;font-size:13px;margin-bottom:4px}
    input,select{font:inherit;box-sizing:border-box;width:100%;padding:6px 10px;border:1px solid #8a8a8a;border-radius:8px;background:#fff}
    input:focus-visible,select:focus-visible,button:focus-visible,a:focus-visible{outline:2px solid #005bd3;outline-offset:1px}
    .details{color:#616161;font-size:12px;margin-top:4px}.error{color:#8e1f0b;font-size:12px;margin-top:4px}
  `;
  const TONES = {
    success: ['#cdfee1', '#0c5132'], critical: ['#fedad9', '#8e1f0b'], warning: ['#ffd6a4', '#5e4200'],
    caution: ['#fff1b8', '#4f4700'], info: ['#e0f0ff', '#00527c'], attention: ['#ffd6a4', '#5e4200'],
    neutral: ['#e3e3e3', '#303030'], auto: ['#e3e3e3', '#303030'],
  };

  function shadow(host, css, html) {
    const root = host.shadowRoot || host.attachShadow({ mode: 'open', delegatesFocus: true });
    root.innerHTML = `<style>${BASE_CSS}${css}</style>${html}`;
    return root;
  }
  const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
  let uid = 0;

  // Layout and text elements without a shadow root: plain CSS gives them Polaris' block structure.
  const pageStyle = document.createElement('style');
  pageStyle.textContent = `
    s-paragraph{display:block;margin:0 0 8px}s-text{display:inline}s-box,s-grid,s-section,s-page{display:block}
    s-stack{display:flex;flex-direction:column;gap:8px}s-stack[direction=inline]{flex-direction:row;flex-wrap:wrap;align-items:center}
    s-ordered-list{display:block;list-style:decimal;padding-left:1.5em;margin:0 0 12px}
    s-unordered-list{display:block;list-style:disc;padding-left:1.5em;margin:0 0 12px}s-list-item{display:list-item;margin:2px 0}
    s-text[tone=neutral],s-paragraph[tone=neutral]{color:#616161}s-option{display:none}
    s-divider{display:block;border-top:1px solid #e3e3e3;margin:8px 0}`;
  document.head.append(pageStyle);

  function define(tag, cls) { if (!customElements.get(tag)) customElements.define(tag, cls); }

  // --- layout and text ---------------------------------------------------------------------------------------
  class Page extends HTMLElement {
    static get observedAttributes() { return ['heading']; }
    connectedCallback() { this.render(); }
    attributeChangedCallback() { if (this.shadowRoot) this.render(); }
    render() {
      shadow(this, `:host{display:block;max-width:var(--w,1000px);margin:0 auto;padding:16px 20px 48px}
        header{display:flex;align-items:center;gap:12px;margin:4px 0 16px}h1{font-size:20px;margin:0;flex:1}
        .actions{display:flex;gap:8px}`,
      `<header><slot name="breadcrumb-actions"></slot><h1>${esc(this.getAttribute('heading'))}</h1>
        <div class="actions"><slot name="secondary-actions"></slot><slot name="primary-action"></slot></div></header>
        <slot name="aside"></slot><slot></slot>`);
      const size = (this.getAttribute('inlinesize') || '').toLowerCase();
      this.style.setProperty('--w', size === 'large' ? '1200px' : size === 'small' ? '640px' : '1000px');
    }
  }
  define('s-page', Page);

  class Section extends HTMLElement {
    static get observedAttributes() { return ['heading']; }
    connectedCallback() { this.render(); }
    attributeChangedCallback() { if (this.shadowRoot) this.render(); }
    render() {
      const nested = this.parentElement && this.parentElement.closest('s-section');
      const heading = this.getAttribute('heading');
      const label = this.getAttribute('accessibilitylabel');
      const level = nested ? 'h3' : 'h2';
      shadow(this, `:host{display:block;background:${nested ? 'transparent' : '#fff'};border-radius:12px;
          padding:${nested ? '0' : '16px'};margin:0 0 16px;box-shadow:${nested ? 'none' : '0 1px 0 rgba(0,0,0,.07),0 0 0 1px rgba(0,0,0,.05)'}}
        ${level}{font-size:${nested ? '13px' : '15px'};margin:0 0 10px}`,
      `<section ${label && !heading ? `aria-label="${esc(label)}"` : ''}>${heading ? `<${level}>${esc(heading)}</${level}>` : ''}<slot></slot></section>`);
    }
  }
  define('s-section', Section);

  class Heading extends HTMLElement {
    connectedCallback() { shadow(this, 'h3{font-size:15px;margin:0 0 6px}', '<h3><slot></slot></h3>'); }
  }
  define('s-heading', Heading);

  class Plain extends HTMLElement {}
  for (const tag of ['s-text', 's-paragraph', 's-box', 's-stack', 's-grid', 's-grid-item', 's-list-item', 's-ordered-list', 's-unordered-list', 's-divider', 's-option']) {
    define(tag, class extends Plain {});
  }

  class Badge extends HTMLElement {
    static get observedAttributes() { return ['tone']; }
    connectedCallback() { this.render(); }
    attributeChangedCallback() { if (this.shadowRoot) this.render(); }
    render() {
      const [bg, fg] = TONES[this.getAttribute('tone') || 'neutral'] || TONES.neutral;
      shadow(this, `:host{display:inline-block}span{display:inline-block;padding:1px 8px;border-radius:8px;font-size:12px;
        font-weight:550;background:${bg};color:${fg};white-space:nowrap}`, '<span><slot></slot></span>');
    }
  }
  define('s-badge', Badge);

  class Banner extends HTMLElement {
    static get observedAttributes() { return ['tone', 'heading']; }
    connectedCallback() { this.render(); }
    attributeChangedCallback() { if (this.shadowRoot) this.render(); }
    render() {
      const tone = this.getAttribute('tone') || 'info';
      const [bg, fg] = TONES[tone] || TONES.info;
      const heading = this.getAttribute('heading');
      shadow(this, `:host{display:block;margin:0 0 12px}.box{background:${bg};border-radius:12px;padding:12px 14px;color:#303030;border-left:4px solid ${fg}}
        strong{display:block;margin-bottom:4px;color:${fg}}.actions{display:flex;gap:8px;margin-top:8px}.actions:not(:has(*)){display:none}
        ::slotted(s-paragraph){display:block;margin:2px 0}`,
      `<div class="box" role="${tone === 'critical' ? 'alert' : 'status'}">${heading ? `<strong>${esc(heading)}</strong>` : ''}<slot></slot>
        <div class="actions"><slot name="secondary-actions"></slot></div></div>`);
    }
  }
  define('s-banner', Banner);

  class Spinner extends HTMLElement {
    connectedCallback() {
      shadow(this, `:host{display:inline-block}span{display:inline-block;width:18px;height:18px;border:3px solid #d4d4d4;
        border-top-color:#303030;border-radius:50%;animation:r 1s linear infinite}@keyframes r{to{transform:rotate(360deg)}}`,
      `<span role="status" aria-label="${esc(this.getAttribute('accessibilitylabel') || 'Loading')}"></span>`);
    }
  }
  define('s-spinner', Spinner);

  class Progress extends HTMLElement {
    static get observedAttributes() { return ['value', 'max', 'tone', 'accessibilitylabel']; }
    connectedCallback() { this.render(); }
    attributeChangedCallback() { if (this.shadowRoot) this.render(); }
    get value() { return Number(this.getAttribute('value') || 0); }
    set value(v) { this.setAttribute('value', String(v)); }
    render() {
      const tone = this.getAttribute('tone');
      const colour = tone === 'critical' ? '#c70a24' : tone === 'success' ? '#29845a' : '#303030';
      shadow(this, `:host{display:block;min-width:8rem}progress{width:100%;height:8px;appearance:none;border:0;border-radius:4px;
        background:#e3e3e3;overflow:hidden}progress::-webkit-progress-bar{background:#e3e3e3}
        progress::-webkit-progress-value{background:${colour};border-radius:4px}`,
      `<progress max="${esc(this.getAttribute('max') || 100)}" value="${esc(this.getAttribute('value') || 0)}"
        aria-label="${esc(this.getAttribute('accessibilitylabel') || '')}"></progress>`);
    }
  }
  define('s-progress', Progress);

  class Thumbnail extends HTMLElement {
    connectedCallback() {
      shadow(this, 'img{width:48px;height:48px;object-fit:cover;border-radius:8px}',
        `<img src="${esc(this.getAttribute('src'))}" alt="${esc(this.getAttribute('alt') || '')}">`);
    }
  }
  define('s-thumbnail', Thumbnail);

  class EmptyState extends HTMLElement {
    connectedCallback() {
      shadow(this, ':host{display:block;text-align:center;padding:24px}', `<h3>${esc(this.getAttribute('heading'))}</h3><slot></slot>
        <slot name="primary-action"></slot><slot name="secondary-actions"></slot>`);
    }
  }
  define('s-empty-state', EmptyState);

  // --- actions -------------------------------------------------------------------------------------------------
  class Button extends HTMLElement {
    static get observedAttributes() { return ['disabled', 'loading', 'variant', 'tone', 'accessibilitylabel']; }
    connectedCallback() {
      this.render();
      this.addEventListener('click', (event) => {
        if (this.disabled || this.hasAttribute('loading')) { event.stopImmediatePropagation(); return; }
        const href = this.getAttribute('href');
        if (href) { location.assign(href); return; }
        if ((this.getAttribute('type') || '') === 'submit') {
          const form = this.closest('form');
          if (form) { event.preventDefault(); form.requestSubmit(); }
        }
      });
    }
    attributeChangedCallback() { if (this.shadowRoot) this.render(); }
    get disabled() { return this.hasAttribute('disabled'); }
    set disabled(v) { this.toggleAttribute('disabled', Boolean(v)); }
    get loading() { return this.hasAttribute('loading'); }
    set loading(v) { this.toggleAttribute('loading', Boolean(v)); }
    render() {
      const variant = this.getAttribute('variant') || 'secondary';
      const critical = this.getAttribute('tone') === 'critical';
      const primary = variant === 'primary';
      const tertiary = variant === 'tertiary';
      const bg = primary ? (critical ? '#c70a24' : '#303030') : tertiary ? 'transparent' : '#fff';
      const fg = primary ? '#fff' : critical ? '#8e1f0b' : '#303030';
      const label = this.getAttribute('accessibilitylabel');
      shadow(this, `:host{display:inline-block}button{font:inherit;font-weight:550;padding:6px 12px;border-radius:8px;cursor:pointer;
        background:${bg};color:${fg};border:${tertiary ? '0' : primary ? '1px solid transparent' : '1px solid #c9c9c9'};
        box-shadow:${tertiary ? 'none' : '0 1px 0 rgba(0,0,0,.1)'};white-space:nowrap}
        button:disabled{opacity:.45;cursor:default}`,
      `<button type="button" ${this.disabled || this.hasAttribute('loading') ? 'disabled' : ''} ${label ? `aria-label="${esc(label)}"` : ''}
        ${this.hasAttribute('loading') ? 'aria-busy="true"' : ''}><slot></slot></button>`);
    }
  }
  define('s-button', Button);

  class Link extends HTMLElement {
    connectedCallback() {
      const target = this.getAttribute('target');
      shadow(this, 'a{color:#005bd3}', `<a href="${esc(this.getAttribute('href'))}" ${target ? `target="${esc(target)}"` : ''}><slot></slot></a>`);
    }
  }
  define('s-link', Link);

  // --- form fields ---------------------------------------------------------------------------------------------
  class Field extends HTMLElement {
    static get observedAttributes() { return ['error', 'label', 'details', 'disabled']; }
    connectedCallback() {
      // Parsed markup connects a custom element before its children (s-choice, s-option) exist: build once the
      // document is parsed.
      if (this._built) return;
      const build = () => { if (!this._built) { this._built = true; this.build(); } };
      if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', build, { once: true });
      else build();
    }
    attributeChangedCallback(name) {
      if (!this._built) return;
      if (name === 'error') this.showError();
      else if (name === 'disabled' && this.control) this.control.disabled = this.hasAttribute('disabled');
    }
    labelHtml(id) {
      const hidden = (this.getAttribute('labelaccessibilityvisibility') || '') === 'exclusive';
      return `<label for="${id}" class="${hidden ? 'hidden-label' : ''}">${esc(this.getAttribute('label'))}</label>`;
    }
    footer() {
      const details = this.getAttribute('details');
      return `${details ? `<div class="details">${esc(details)}</div>` : ''}<div class="error" role="alert" hidden></div>`;
    }
    showError() {
      const box = this.shadowRoot && this.shadowRoot.querySelector('.error');
      if (!box) return;
      const message = this.getAttribute('error');
      box.textContent = message || '';
      box.hidden = !message;
      if (this.control) this.control.setAttribute('aria-invalid', message ? 'true' : 'false');
    }
    wire(control) {
      this.control = control;
      control.addEventListener('change', () => this.dispatchEvent(new Event('change', { bubbles: true })));
      control.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' && control.tagName === 'INPUT' && control.type !== 'checkbox') {
          const form = this.closest('form');
          if (form) { event.preventDefault(); form.requestSubmit(); }
        }
      });
      this.showError();
    }
    focus() { if (this.control) this.control.focus(); }
  }

  function inputField(type) {
    return class extends Field {
      build() {
        const id = `f${++uid}`;
        const attrs = ['placeholder', 'min', 'max', 'step', 'name', 'required', 'autocomplete']
          .filter((a) => this.hasAttribute(a)).map((a) => `${a}="${esc(this.getAttribute(a))}"`).join(' ');
        const root = shadow(this, ':host{display:block;margin:0 0 12px}', `${this.labelHtml(id)}<input id="${id}" type="${type}" ${attrs}
          value="${esc(this._pending ?? this.getAttribute('value') ?? '')}">${this.footer()}`);
        this.wire(root.querySelector('input'));
      }
      get value() { return this.control ? this.control.value : (this._pending ?? this.getAttribute('value') ?? ''); }
      set value(v) { if (this.control) this.control.value = v ?? ''; else this._pending = v ?? ''; }
    };
  }
  define('s-text-field', inputField('text'));
  define('s-search-field', inputField('search'));
  define('s-number-field', inputField('number'));
  define('s-email-field', inputField('email'));
  define('s-url-field', inputField('url'));

  class Select extends Field {
    build() {
      const id = `f${++uid}`;
      const root = shadow(this, ':host{display:block;margin:0 0 12px}', `${this.labelHtml(id)}<select id="${id}"></select>${this.footer()}`);
      this.wire(root.querySelector('select'));
      this.sync();
      new MutationObserver(() => this.sync()).observe(this, { childList: true, subtree: true, attributes: true, characterData: true });
    }
    sync() {
      const select = this.control;
      const keep = this._pending ?? select.value;
      select.replaceChildren(...[...this.querySelectorAll('s-option')].map((o) => {
        const opt = document.createElement('option');
        opt.value = o.getAttribute('value') ?? o.textContent;
        opt.textContent = o.textContent.trim();
        if (o.hasAttribute('selected')) opt.selected = true;
        if (o.hasAttribute('disabled')) opt.disabled = true;
        return opt;
      }));
      if (keep !== undefined && keep !== '' && [...select.options].some((o) => o.value === String(keep))) select.value = String(keep);
      this._pending = undefined;
      if (this.hasAttribute('disabled')) select.disabled = true;
    }
    get value() { return this.control ? this.control.value : (this._pending ?? ''); }
    set value(v) {
      if (this.control && [...this.control.options].some((o) => o.value === String(v))) this.control.value = String(v);
      else this._pending = v;
    }
  }
  define('s-select', Select);

  function toggle(role) {
    return class extends Field {
      build() {
        const id = `f${++uid}`;
        const root = shadow(this, `:host{display:block;margin:0 0 8px}label{display:inline-flex;gap:8px;align-items:center;margin:0;font-size:14px}
          input{width:auto}`,
        `<label for="${id}"><input id="${id}" type="checkbox" ${role === 'switch' ? 'role="switch"' : ''}
          ${this._checked ?? this.hasAttribute('checked') ? 'checked' : ''}>${esc(this.getAttribute('label'))}</label>${this.footer()}`);
        this.wire(root.querySelector('input'));
      }
      get checked() { return this.control ? this.control.checked : Boolean(this._checked ?? this.hasAttribute('checked')); }
      set checked(v) { if (this.control) this.control.checked = Boolean(v); else this._checked = Boolean(v); }
    };
  }
  define('s-checkbox', toggle('checkbox'));
  define('s-switch', toggle('switch'));

  class Choice extends HTMLElement {
    get selected() { return this.hasAttribute('selected'); }
    set selected(v) { this.toggleAttribute('selected', Boolean(v)); }
  }
  define('s-choice', Choice);

  class ChoiceList extends Field {
    build() {
      const multiple = this.hasAttribute('multiple');
      const name = `c${++uid}`;
      const items = [...this.querySelectorAll('s-choice')].map((c, i) => `<label><input type="${multiple ? 'checkbox' : 'radio'}"
        name="${name}" value="${esc(c.getAttribute('value'))}" ${c.hasAttribute('selected') ? 'checked' : ''}
        id="${name}-${i}"> ${esc(c.textContent.trim())}</label>`).join('');
      const root = shadow(this, `:host{display:block;margin:0 0 12px}fieldset{border:0;margin:0;padding:0}
        legend{font-size:13px;margin-bottom:6px;padding:0}label{display:flex;gap:8px;align-items:center;margin:4px 0;font-size:14px}input{width:auto}`,
      `<fieldset><legend>${esc(this.getAttribute('label'))}</legend>${items}</fieldset>${this.footer()}`);
      this.inputs = [...root.querySelectorAll('input')];
      for (const input of this.inputs) {
        input.addEventListener('change', () => {
          [...this.querySelectorAll('s-choice')].forEach((c, i) => c.toggleAttribute('selected', this.inputs[i].checked));
          this.dispatchEvent(new Event('change', { bubbles: true }));
        });
      }
      if (this._values) this.values = this._values;
    }
    get values() { return this.inputs ? this.inputs.filter((i) => i.checked).map((i) => i.value) : (this._values || []); }
    set values(list) {
      this._values = list;
      if (this.inputs) for (const input of this.inputs) input.checked = list.includes(input.value);
    }
  }
  define('s-choice-list', ChoiceList);

  class DropZone extends Field {
    build() {
      const id = `f${++uid}`;
      const accept = this.getAttribute('accept');
      const root = shadow(this, `:host{display:block;margin:0 0 12px}input{border:2px dashed #c9c9c9;padding:18px;background:#fafafa}`,
        `${this.labelHtml(id)}<input id="${id}" type="file" ${accept ? `accept="${esc(accept)}"` : ''} ${this.hasAttribute('multiple') ? 'multiple' : ''}>${this.footer()}`);
      this.wire(root.querySelector('input'));
    }
    get files() { return this.control ? [...this.control.files] : []; }
  }
  define('s-drop-zone', DropZone);
})();
