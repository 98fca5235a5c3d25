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
    asked: '',     // the name we asked the server for, '' for a generated one
    auto: false,   // asked came from the URL or from memory, not typed
    stuck: true,   // the log follows new messages (the user has not scrolled up)
    unread: 0,     // messages added below the view while scrolled up
  };

  // --- History and resume: the room's past on entry; after a lost
  // connection, reconnection with backoff, resumed where each room was. ---

  const resume = {
    rooms: new Map(), // room -> {epoch, offset}: the last message shown of it
    retries: 0,       // reconnections tried since the last welcome
    timer: 0,         // a scheduled reconnection
    reconnecting: false,
  };

  // fresh records a message or me event as shown; false if it already was
  // (it came again in a history after a resume, or twice in overlapping
  // histories). Events without an offset (a node without history) pass.
  function fresh(ev) {
    if (!ev.offset) return true;
    const r = resume.rooms.get(ev.room);
    if (r && r.epoch === ev.epoch && ev.offset <= r.offset) return false;
    resume.rooms.set(ev.room, { epoch: ev.epoch, offset: ev.offset });
    return true;
  }

  // showHistory puts a history event's messages in the log (those not
  // shown yet), marked as past, after a notice if some were missed.
  function showHistory(ev) {
    const r = resume.rooms.get(ev.room);
    if (ev.reset) {
      notice(`some messages were missed in ${ev.room}`);
      resume.rooms.delete(ev.room); // a new epoch counts from 1 again
    }
    if (ev.truncated) notice(`older messages of ${ev.room} were left out: too long to send at once`);
    if (!r || r.epoch !== ev.epoch || ev.reset) resume.rooms.set(ev.room, { epoch: ev.epoch, offset: 0 });
    for (const m of ev.messages || []) {
      if (!fresh(m)) continue;
      m.room = ev.room;
      if (m.type === 'me') tag(line('action past', clock(m.ts), ['from', '* ' + m.from], ['text', m.text]), m);
      else if (m.type === 'notice') tag(line('notice server past', clock(m.ts), ['text', '*** ' + m.text]), m);
      else tag(line('message past', clock(m.ts), ['from', m.from + ':'], ['text', m.text]), m);
    }
  }

  // resumeQuery is the ?room=&since=&epoch= that reconnects into room
  // where the page left it.
  function resumeQuery(room) {
    if (!room) return '';
    let q = 'room=' + encodeURIComponent(room);
    const r = resume.rooms.get(room);
    if (r && r.epoch) q += `&since=${r.offset}&epoch=${encodeURIComponent(r.epoch)}`; // no epoch: nothing said yet
    return q;
  }

  // joinCommand joins room, resuming it if the page has been there.
  function joinCommand(room) {
    const cmd = { type: 'join', room };
    const r = resume.rooms.get(room.toLowerCase());
    if (r && r.epoch) { cmd.since = r.offset; cmd.epoch = r.epoch; }
    return cmd;
  }

  // reconnectLater schedules a reconnection after a lost connection, with
  // exponential backoff (0.5 s doubling to 15 s, jittered), unless the node
  // closed it for a policy violation (flooding, a refused or expired
  // token, a ban), which a reconnection would repeat, or the application
  // disconnected it with a code that says not to (3500-3999, 4500-4999).
  function reconnectLater(code) {
    if (code === 1008 || (code >= 3500 && code < 4000) || code >= 4500) return;
    const delay = Math.min(15000, 500 * 2 ** resume.retries) * (0.8 + 0.4 * Math.random());
    resume.retries++;
    resume.reconnecting = true;
    resume.timer = setTimeout(() => {
      resume.timer = 0;
      state.auto = true; // our name may still be held by the lost connection: reclaimName
      connect(state.me, state.room);
    }, delay);
  }

  // connected runs on a welcome: the reconnection, if any, succeeded.
  function connected() {
    resume.retries = 0;
    resume.reconnecting = false;
  }

  // stopReconnecting cancels a scheduled reconnection (the user connects).
  function stopReconnecting() {
    clearTimeout(resume.timer);
    resume.timer = 0;
    resume.reconnecting = false;
  }

  // --- Remembered name: localStorage, which may be unavailable. ---

  const nameKey = 'edgews.chat.name';

  function rememberedName() {
    try { return localStorage.getItem(nameKey) || ''; } catch { return ''; }
  }

  function rememberName(name) {
    try { localStorage.setItem(nameKey, name); } catch { /* private mode: not remembered */ }
  }

  // nameGranted runs when the server names us: the name field shows the
  // name we have, a name we asked for is remembered (a generated one is
  // not), and the ?name= of the address is dropped so a reload uses the
  // remembered name, which may be newer.
  function nameGranted() {
    $('name').value = state.me;
    if (!state.asked || state.me.toLowerCase() !== state.asked.toLowerCase()) return;
    rememberName(state.me);
    const url = new URL(location.href);
    if (url.searchParams.has('name')) {
      url.searchParams.delete('name');
      history.replaceState(history.state, '', url);
    }
  }

  // reclaimName asks once more, a second later, for a name we reconnected
  // with but found taken: after a reload the server may not yet have seen
  // the old page's connection close.
  function reclaimName(ws) {
    const want = state.asked;
    if (!state.auto || !want || state.me.toLowerCase() === want.toLowerCase()) return;
    state.auto = false;
    setTimeout(() => {
      if (state.ws === ws && state.me.toLowerCase() !== want.toLowerCase()) send({ type: 'nick', name: want });
    }, 1000);
  }

  // --- The log: sticks to the bottom unless the user scrolled up. ---

  function logAtBottom() {
    const log = $('log');
    return log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
  }

  function showUnread() {
    const b = $('newmsgs');
    b.hidden = state.unread === 0;
    b.textContent = state.unread === 1 ? 'New message ↓' : `${state.unread} new messages ↓`;
  }

  function toBottom() {
    const log = $('log');
    log.scrollTop = log.scrollHeight;
    state.stuck = true;
    state.unread = 0;
    showUnread();
  }

  // followLog tracks whether the user scrolled up, and keeps a stuck log
  // at the bottom when it changes size (keyboard, rotation, drawer).
  function followLog() {
    const log = $('log');
    log.addEventListener('scroll', () => {
      state.stuck = logAtBottom();
      if (state.stuck && state.unread) { state.unread = 0; showUnread(); }
    });
    new ResizeObserver(() => { if (state.stuck) log.scrollTop = log.scrollHeight; }).observe(log);
  }

  // line appends one entry to the log: parts are [class, text] pairs.
  function line(kind, ...parts) {
    const log = $('log');
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
    if (state.stuck) toBottom();
    else { state.unread++; showUnread(); }
    return li;
  }

  // tag marks a log entry with the room, offset and epoch of its message,
  // so that a deleted event finds it.
  function tag(li, ev) {
    if (!ev.offset) return;
    li.dataset.room = ev.room;
    li.dataset.offset = String(ev.offset);
    li.dataset.epoch = ev.epoch || '';
  }

  // removeDeleted takes a message the application deleted off the log.
  function removeDeleted(ev) {
    const sel = `#log li[data-room="${CSS.escape(ev.room)}"][data-offset="${Number(ev.offset)}"]`;
    for (const li of document.querySelectorAll(sel)) {
      if (!ev.epoch || li.dataset.epoch === ev.epoch) li.remove();
    }
  }

  const clock = (ts) => ['ts', ts ? new Date(ts).toLocaleTimeString() : ''];
  const notice = (text) => line('notice', ['text', text]);

  // whisperTo makes name the whisper target, back at the message input.
  function whisperTo(name) {
    setDrawer(false);
    $('to').value = name;
    $('text').focus();
  }

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
      b.addEventListener('click', () => whisperTo(name));
      li.appendChild(b);
      ul.appendChild(li);
    }
    $('count').textContent = String(state.count);
    $('counttag').textContent = String(state.count);
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
    $('status').textContent = on ? `You are ${state.me} in ${state.room}` : resume.reconnecting ? 'reconnecting...' : 'Not connected';
    $('room').textContent = on ? state.room : '-';
    $('roomtag').textContent = on ? state.room : 'offline';
    $('connect').textContent = on ? 'Rename' : 'Connect';
    for (const id of ['text', 'send', 'join', 'leave']) $(id).disabled = !on;
  }

  function presence(ev) {
    if (ev.event === 'joined' && ev.name === state.me) state.room = ev.room;
    if (ev.event === 'renamed' && ev.old === state.me) {
      state.me = ev.name;
      state.asked = ev.name;
      nameGranted();
    }
    if (ev.room === state.room) applyMembers(ev);
    switch (ev.event) {
      case 'joined': notice(`${ev.name} joined ${ev.room}${ev.created ? ' (new room)' : ''}`); break;
      case 'left': notice(`${ev.name} left ${ev.room}`); break;
      case 'renamed': notice(`${ev.old} is now known as ${ev.name}`); break;
    }
    showStatus();
  }

  function onEvent(ev) {
    if ((ev.type === 'message' || ev.type === 'me' || ev.type === 'notice') && !fresh(ev)) return;
    switch (ev.type) {
      case 'history':
        showHistory(ev);
        break;
      case 'welcome':
        state.me = ev.name;
        state.room = ev.room;
        applyMembers(ev);
        notice(`${ev.text} You are ${ev.name}.`);
        nameGranted();
        reclaimName(state.ws);
        connected();
        showStatus();
        focusText();
        break;
      case 'message':
        tag(line('message', clock(ev.ts), ['from', ev.from + ':'], ['text', ev.text]), ev);
        break;
      case 'me':
        tag(line('action', clock(ev.ts), ['from', '* ' + ev.from], ['text', ev.text]), ev);
        break;
      case 'notice':
        tag(line('notice server', clock(ev.ts), ['text', '*** ' + ev.text]), ev);
        break;
      case 'deleted':
        removeDeleted(ev);
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

  // focusText puts the caret in the message input unless the user is busy
  // in another field.
  function focusText() {
    const a = document.activeElement;
    if (!a || a === document.body || a === $('connect') || a === $('name')) $('text').focus();
  }

  function send(obj) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  // A connect token, from #token=... in the address (the fragment never
  // reaches a server or its logs), is passed on as ?token=: the node then
  // names the user from it. Once read, it leaves the address (replaced,
  // not a new history entry), so that the browser's history, a synced
  // history, a bookmark or a copied link does not keep it; reconnections
  // use the copy read here.
  const hashParams = new URLSearchParams(location.hash.slice(1));
  const token = hashParams.get('token') || '';
  if (hashParams.has('token')) {
    hashParams.delete('token');
    const rest = hashParams.toString();
    history.replaceState(history.state, '', location.pathname + location.search + (rest ? '#' + rest : ''));
  }

  // connect opens the connection as name, in room (resumed; '' for the
  // lobby).
  function connect(name, room = '') {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let url = `${scheme}//${location.host}/chat`;
    if (token) url += '?token=' + encodeURIComponent(token);
    else if (name) url += '?name=' + encodeURIComponent(name);
    const rq = resumeQuery(room);
    if (rq) url += (url.includes('?') ? '&' : '?') + rq;
    stopReconnecting();
    state.asked = name;
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
      reconnectLater(e.code);
      showStatus();
    };
    ws.onopen = showStatus;
  }

  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    const name = $('name').value.trim();
    state.auto = false;
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
    $('text').focus(); // keep typing (and keep a phone's keyboard open)
    toBottom();
  });

  $('joinform').addEventListener('submit', (e) => {
    e.preventDefault();
    const room = $('roomname').value.trim();
    if (room) send(joinCommand(room));
    $('roomname').value = '';
  });

  $('leave').addEventListener('click', () => send(joinCommand('lobby'))); // a leave, resumed

  $('newmsgs').addEventListener('click', () => { toBottom(); $('text').focus(); });

  // --- The drawer: the room and member list on narrow screens. ---

  // setDrawer opens or closes it; while open, the page behind it is inert
  // (no focus, no clicks) until Close, Escape, the scrim or a choice.
  function setDrawer(open) {
    document.body.classList.toggle('drawer-open', open);
    $('drawer').setAttribute('aria-expanded', String(open));
    $('scrim').hidden = !open;
    for (const el of document.querySelectorAll('header, section')) el.inert = open;
    if (open) $('closedrawer').focus();
  }

  function closeDrawer() {
    if (!document.body.classList.contains('drawer-open')) return;
    setDrawer(false);
    $('drawer').focus();
  }

  $('drawer').addEventListener('click', () => setDrawer(!document.body.classList.contains('drawer-open')));
  $('closedrawer').addEventListener('click', closeDrawer);
  $('scrim').addEventListener('click', closeDrawer);
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeDrawer(); });
  $('joinform').addEventListener('submit', () => setDrawer(false));
  matchMedia('(min-width: 700px)').addEventListener('change', (e) => { if (e.matches) setDrawer(false); });

  // --- The visible viewport: an on-screen keyboard shrinks it. ---

  // trackViewport keeps --vvh at the visual viewport's height (the CSS
  // falls back to 100dvh) and the message input in view while typing.
  function trackViewport() {
    const vv = window.visualViewport;
    if (!vv) return;
    const fit = () => {
      const root = document.documentElement.style;
      if (vv.scale > 1.01) root.removeProperty('--vvh'); // pinch-zoomed: keep the layout
      else root.setProperty('--vvh', vv.height + 'px');
      if (document.activeElement === $('text')) $('text').scrollIntoView({ block: 'nearest' });
      if (state.stuck) $('log').scrollTop = $('log').scrollHeight;
    };
    vv.addEventListener('resize', fit);
    fit();
  }

  // --- First minute: /?name=bob, or the remembered name, connects at once. ---

  function autoConnect() {
    if (token) { connect(''); return; }
    const q = new URLSearchParams(location.search).get('name');
    const name = (q || rememberedName()).trim();
    $('name').value = name;
    if (!name) { $('name').focus(); return; }
    state.auto = true;
    connect(name);
  }

  followLog();
  trackViewport();
  showStatus();
  autoConnect();
})();
