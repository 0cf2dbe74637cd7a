// systemfd's LiveReload client, served at /livereload.js by systemfd's
// LiveReload server (src/livereload/mod.rs, which documents the protocol).
// It connects back to where it was loaded from, reloads the page when told,
// and shows systemfd's build status in a small banner. Plain ES2017, no
// dependencies; server data reaches the page through textContent only.
(function () {
  'use strict';
  if (window.__systemfdLivereload) {
    return;
  }
  window.__systemfdLivereload = true;

  const PROTOCOLS = ['http://livereload.com/protocols/official-7', 'systemfd-status-1'];
  const SHOWN_LINES = 30;
  // Captured now: document.currentScript is null once this has run.
  const script = document.currentScript ||
    document.querySelector('script[src*="livereload.js"]');
  // Without it, LiveReload's usual place: this host, port 35729.
  const source = script && script.src ? new URL(script.src, location.href)
    : new URL('//' + location.hostname + ':35729/', location.href);
  const url = (source.protocol === 'https:' ? 'wss://' : 'ws://') + source.host + '/livereload';
  let delay = 500;
  let banner = null;

  function connect () {
    let socket;
    try {
      socket = new WebSocket(url);
    } catch (e) {
      retry();
      return;
    }
    socket.onopen = () => socket.send(JSON.stringify({ command: 'hello', protocols: PROTOCOLS }));
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (!message || typeof message !== 'object') {
        return;
      }
      if (message.command === 'hello') {
        delay = 500;
      } else if (message.command === 'reload') {
        location.reload();
      } else if (message.command === 'systemfd-status') {
        show(message);
      }
    };
    // Also after an error: the close follows it. A reconnection does not
    // reload: the server says when.
    socket.onclose = retry;
  }

  function retry () {
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 5000);
  }

  function element (tag, style, text) {
    const node = document.createElement(tag);
    node.style.cssText = style;
    if (text) {
      node.textContent = text;
    }
    return node;
  }

  function show (message) {
    if (banner) {
      banner.remove();
      banner = null;
    }
    if (message.state !== 'building' && message.state !== 'failed') {
      return;
    }
    banner = element('div', 'position:fixed;right:12px;bottom:12px;z-index:2147483647;' +
      'box-sizing:border-box;max-width:min(720px,calc(100vw - 24px));padding:8px 36px 8px 12px;' +
      'background:#222;color:#eee;font:13px/1.4 system-ui,sans-serif;text-align:left;' +
      'border-radius:6px;box-shadow:0 2px 12px rgba(0,0,0,.4)');
    banner.setAttribute('role', 'status');
    const close = element('button', 'position:absolute;top:2px;right:6px;padding:0 4px;' +
      'background:none;border:0;color:inherit;font:18px/1 sans-serif;cursor:pointer', '\u00d7');
    close.title = 'Dismiss';
    close.setAttribute('aria-label', 'Dismiss');
    close.onclick = () => show({});
    banner.appendChild(close);
    if (message.state === 'building') {
      banner.appendChild(element('div', '', 'systemfd: rebuilding\u2026'));
    } else {
      banner.appendChild(element('div', 'font-weight:bold',
        'systemfd: the new version failed: this page is the previous one'));
      if (typeof message.cause === 'string' && message.cause) {
        banner.appendChild(element('div', 'margin-top:4px', message.cause));
      }
      if (typeof message.output === 'string' && message.output) {
        const lines = message.output.split('\n');
        const pre = element('pre', 'margin:6px 0 0;padding:6px;max-height:16em;overflow:auto;' +
          'background:#111;color:#ddd;font:12px/1.3 ui-monospace,monospace;white-space:pre',
          lines.slice(-SHOWN_LINES).join('\n'));
        banner.appendChild(pre);
        if (lines.length > SHOWN_LINES) {
          const all = element('button', 'margin-top:4px;padding:0;background:none;border:0;' +
            'color:#9cf;font:inherit;cursor:pointer', 'show all ' + lines.length + ' lines');
          all.onclick = () => {
            pre.textContent = message.output;
            pre.scrollTop = pre.scrollHeight;
            all.remove();
          };
          banner.appendChild(all);
        }
      }
    }
    (document.body || document.documentElement).appendChild(banner);
    const pre = banner.querySelector('pre');
    if (pre) {
      pre.scrollTop = pre.scrollHeight;
    }
  }

  connect();
})();
