// The chat page: one WebSocket to /chat speaking chat.v1+json. Everything
// a user typed is put on the page with textContent, never as HTML.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const state = {
    ws: null,
    me: '',        // our name, as the server last told us
    room: '',      // our room
    seq: 0,        // version of the member list shown (see applyMembers)
    members: [],   // null: too many to list (the server sends the count only)
    count: 0,
  };

  // line appends one entry to the log: parts are [class, text] pairs.
  function line(kind, ...parts) {
    const log = $('log');
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
    const li = document.createElement('li');
    li.className = kind;
    for (const [cls, text] of parts) {
      const span = document.createElement('span');
      span.className = cls;
      span.textContent = text;
      li.appendChild(span);
    }
    log.appendChild(li);
    while (log.childElementCount > 2000) log.firstElementChild.remove();
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  const clock = (ts) => ['ts', ts ? new Date(ts).toLocaleTimeString() : ''];
  const notice = (text) => line('notice', ['text', text]);

  function showMembers() {
    const ul = $('members');
    ul.replaceChildren();
    if (state.members === null) {
      const li = document.createElement('li');
      li.className = 'hint';
      li.textContent = 'too many to list';
      ul.appendChild(li);
    }
    for (const name of state.members || []) {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = name;
      if (name === state.me) b.className = 'me';
      b.addEventListener('click', () => { $('to').value = name; $('text').focus(); });
      li.appendChild(b);
      ul.appendChild(li);
    }
    $('count').textContent = String(state.count);
  }

  // applyMembers shows the member list (or count) of an event unless a
  // newer one was shown: events sent from different server loops may
  // arrive out of order, and seq (increasing node-wide) says which is newer.
  function applyMembers(ev) {
    if (ev.seq && ev.seq < state.seq) return;
    if (ev.seq) state.seq = ev.seq;
    state.members = ev.members ? ev.members.slice().sort() : null;
    state.count = ev.count || 0;
    showMembers();
  }

  function showStatus() {
    const on = state.ws !== null && state.ws.readyState === WebSocket.OPEN;
    $('status').textContent = on ? `You are ${state.me} in ${state.room}` : 'Not connected';
    $('room').textContent = on ? state.room : '-';
    $('connect').textContent = on ? 'Rename' : 'Connect';
    for (const id of ['text', 'send', 'join', 'leave']) $(id).disabled = !on;
  }

  function presence(ev) {
    if (ev.event === 'joined' && ev.name === state.me) state.room = ev.room;
    if (ev.event === 'renamed' && ev.old === state.me) state.me = ev.name;
    if (ev.room === state.room) applyMembers(ev);
    switch (ev.event) {
      case 'joined': notice(`${ev.name} joined ${ev.room}${ev.created ? ' (new room)' : ''}`); break;
      case 'left': notice(`${ev.name} left ${ev.room}`); break;
      case 'renamed': notice(`${ev.old} is now known as ${ev.name}`); break;
    }
    showStatus();
  }

  function onEvent(ev) {
    switch (ev.type) {
      case 'welcome':
        state.me = ev.name;
        state.room = ev.room;
        applyMembers(ev);
        notice(`${ev.text} You are ${ev.name}.`);
        showStatus();
        break;
      case 'message':
        line('message', clock(ev.ts), ['from', ev.from + ':'], ['text', ev.text]);
        break;
      case 'me':
        line('action', clock(ev.ts), ['from', '* ' + ev.from], ['text', ev.text]);
        break;
      case 'whisper':
        line('whisper', clock(ev.ts), ['from', `${ev.from} → ${ev.to}:`], ['text', ev.text]);
        break;
      case 'presence':
        presence(ev);
        break;
      case 'users':
        if (ev.room === state.room) applyMembers(ev);
        notice(`${ev.count} in ${ev.room}: ` + (ev.members ? ev.members.join(', ') : '(too many to list)'));
        break;
      case 'help':
        line('help', ['text', ev.text]);
        break;
      case 'error':
        line('error', ['text', 'error: ' + ev.text]);
        break;
    }
  }

  function send(obj) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  function connect(name) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let url = `${scheme}//${location.host}/chat`;
    if (name) url += '?name=' + encodeURIComponent(name);
    const ws = new WebSocket(url, 'chat.v1+json');
    state.ws = ws;
    state.seq = 0;
    ws.onmessage = (e) => {
      let ev;
      try { ev = JSON.parse(e.data); } catch { notice(String(e.data)); return; }
      onEvent(ev);
    };
    ws.onclose = (e) => {
      if (state.ws !== ws) return;
      state.ws = null;
      line('error', ['text', `disconnected (${e.code}${e.reason ? ' ' + e.reason : ''})`]);
      state.members = [];
      state.count = 0;
      showMembers();
      showStatus();
    };
    ws.onopen = showStatus;
  }

  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    const name = $('name').value.trim();
    if (state.ws) send({ type: 'nick', name });
    else connect(name);
  });

  $('sendform').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('text').value;
    const to = $('to').value.trim();
    if (text === '') return;
    if (to) send({ type: 'whisper', to, text });
    else if (text.startsWith('/')) send(text); // a command, as a plain-text line
    else send({ type: 'message', text });
    $('text').value = '';
    $('to').value = '';
  });

  $('joinform').addEventListener('submit', (e) => {
    e.preventDefault();
    const room = $('roomname').value.trim();
    if (room) send({ type: 'join', room });
    $('roomname').value = '';
  });

  $('leave').addEventListener('click', () => send({ type: 'leave' }));

  const q = new URLSearchParams(location.search).get('name');
  if (q) $('name').value = q;
  showStatus();
})();
