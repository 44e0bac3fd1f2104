// A stand-in for OpenDialog's built webchat (see ../../../README.md).
(function () {
  'use strict';
  var settings = null;
  var userId = null;
  var root = null;
  var state = { history: [], messages: [], buttons: [], inputDisabled: true, transcript: '', filename: '', requests: 0 };

  function report() {
    state.buttons = Array.prototype.map.call(document.querySelectorAll('.od-button'), function (b) {
      var r = b.getBoundingClientRect();
      var cs = getComputedStyle(b);
      return { text: b.textContent, visible: r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none',
        x: r.left + r.width / 2, y: r.top + r.height / 2 };
    });
    var dl = document.getElementById('download').getBoundingClientRect();
    state.download = { visible: dl.width > 0 && dl.height > 0, x: dl.left + dl.width / 2, y: dl.top + dl.height / 2 };
    state.inputDisabled = document.getElementById('input').disabled;
    window.parent.postMessage({ widgetState: JSON.parse(JSON.stringify(state)) }, '*');
  }

  function pad(n) { return (n < 10 ? '0' : '') + n; }
  // WebChat.vue sendMessage: moment().tz("UTC").format("ddd D MMM") and "hh:mm:ss A".
  function stamp(d) {
    var days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
    var months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
    var h = d.getUTCHours();
    return { date: days[d.getUTCDay()] + ' ' + d.getUTCDate() + ' ' + months[d.getUTCMonth()],
      time: pad(h % 12 || 12) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds()) + (h < 12 ? ' AM' : ' PM') };
  }
  function uuid() { return 'xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx'.replace(/[xy]/g, function (c) {
    var r = Math.random() * 16 | 0; return (c === 'x' ? r : (r & 3 | 8)).toString(16); }); }

  function bubble(author, text) {
    var div = document.createElement('div');
    div.className = 'msg ' + author;
    div.textContent = text;
    document.getElementById('messages').appendChild(div);
    return div;
  }

  // render shows a message of the answer (ButtonMessage.vue: buttons shown
  // when display and text are set and the message is not external; with
  // clear_after_interaction a button listens once, "~click", and the buttons
  // are cleared after a press, as onButtonClick does).
  function render(m) {
    var d = m.data || {};
    state.messages.push({ author: 'them', type: m.type, text: d.text || '' });
    var div = bubble('them', d.text || '');
    if (m.type === 'button' && d.buttons && d.buttons.length && !d.external) {
      var wrap = document.createElement('div');
      wrap.className = 'od-message-button__buttons-wrapper';
      d.buttons.forEach(function (b) {
        if (!(b.display && b.text)) return;
        var el = document.createElement('button');
        el.className = 'od-button';
        el.textContent = b.text;
        el.addEventListener('click', function () {
          if (b.download) { download(); return; }
          if (d.clear_after_interaction) { wrap.remove(); }
          send({ type: 'button_response', author: 'me', callback_id: b.callback_id, data: { text: b.text, value: b.value } });
        }, { once: !!d.clear_after_interaction });
        wrap.appendChild(el);
      });
      div.appendChild(wrap);
    }
  }

  // send is WebChat.vue sendMessage and WebChatMode.js sendRequest.
  function send(msg) {
    var s = stamp(new Date());
    msg.mode = 'webchat';
    msg.data.date = s.date;
    msg.data.time = s.time;
    msg.user_id = userId;
    msg.user = settings.user || {};
    msg.id = uuid();
    if (msg.data.text) {
      state.messages.push({ author: 'me', type: msg.type, text: msg.data.text });
      bubble('me', msg.data.text);
    }
    var copy = Object.assign({}, msg);
    copy.author = copy.user_id;
    state.requests++;
    report();
    return fetch('/incoming/webchat', {
      method: 'POST', headers: { 'Content-Type': 'application/json;charset=utf-8' },
      body: JSON.stringify({ notification: 'message', user_id: copy.user_id, author: copy.author, message_id: copy.id, content: copy })
    }).then(function (r) {
      if (!r.ok) throw new Error('POST /incoming/webchat: ' + r.status);
      return r.text();
    }).then(function (t) {
      if (t) {
        var a = JSON.parse(t);
        (Array.isArray(a) ? a : [a]).forEach(function (m) {
          if (!m) { document.getElementById('input').disabled = false; return; } // the empty message
          render(m);
          document.getElementById('input').disabled = !!(m.data && m.data.disable_text);
        });
      }
      report();
    }).catch(function (e) { console.error(String(e)); });
  }

  // download is WebChat.vue download and forceFileDownload.
  function download() {
    return fetch('/user/' + encodeURIComponent(userId) + '/history/file').then(function (r) {
      var cd = r.headers.get('content-disposition') || '';
      var mm = cd.match(/filename=(.+)/);
      state.filename = mm ? mm[1].replace(/(^"|"$)/g, '') : 'Chatbot User History.txt';
      return r.text();
    }).then(function (text) {
      state.transcript = text;
      var a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob([text]));
      a.setAttribute('download', state.filename);
      document.body.appendChild(a);
      a.click();
      report();
    });
  }

  // loadHistory is WebChat.vue getChatHistory: the newest messages first, reversed.
  function loadHistory() {
    var n = (settings.webchatHistory && settings.webchatHistory.numberOfMessages) || 10;
    return fetch('/user/' + encodeURIComponent(userId) + '/history?limit=' + n + '&ignore=chat_open,trigger,cta,text_external')
      .then(function (r) { return r.json(); })
      .then(function (list) {
        list.reverse().forEach(function (m) {
          var author = m.author === userId ? 'me' : 'them';
          state.history.push({ author: author, type: m.type, text: (m.data && m.data.text) || '' });
          bubble(author, (m.data && m.data.text) || '').classList.add('history');
        });
      });
  }

  function start(s) {
    settings = s;
    var user = s.user || {};
    userId = user.email ? user.email : (sessionStorage.uuid || (sessionStorage.uuid = uuid()));
    root = document.querySelector('opendialog-chat') || document.body;
    root.innerHTML = '<div class="loading">Loading chat history</div><div id="messages"></div>' +
      '<input id="input" disabled placeholder="Write a reply"><button id="download" class="download">Download</button>';
    document.getElementById('download').addEventListener('click', download);
    var ready = s.webchatHistory && s.webchatHistory.showHistory ? loadHistory() : Promise.resolve();
    ready.then(function () {
      root.querySelector('.loading').remove();
      state.historyLoaded = true;
      report();
      // sendChatOpenMessage: only with an open intent.
      if (settings.openIntent) send({ type: 'chat_open', callback_id: settings.openIntent, data: { value: settings.parentUrl } });
    });
  }

  // opendialog-bot.js posts {loadSettings} to the iframe when it has loaded.
  window.addEventListener('message', function (ev) {
    if (ev.data && ev.data.loadSettings && !settings) start(ev.data.loadSettings);
  });
})();
