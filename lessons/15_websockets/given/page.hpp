// Lesson 15, given: the page GET / serves, a chat in the browser. Open
// http://127.0.0.1:<port>/ while the demo or your server runs: what you
// type goes to GET /chat, and what the room says comes back.
#pragma once

#include <string_view>

namespace wsapp {

inline constexpr std::string_view chat_page = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>asynclings chat</title>
<style>
  body { font: 16px system-ui, sans-serif; max-width: 40em; margin: 2em auto; }
  #log { border: 1px solid #ccc; height: 20em; overflow-y: auto; padding: .5em; }
  #log p { margin: .2em 0; }
  .note { color: #777; }
</style>
</head>
<body>
<h1>Chat</h1>
<div id="log"></div>
<form id="say"><input id="text" autocomplete="off" size="50" autofocus>
<button>Send</button></form>
<script>
  const log = document.getElementById("log");
  function show(text, note) {
    const p = document.createElement("p");
    p.textContent = text;
    if (note) p.className = "note";
    log.append(p);
    log.scrollTop = log.scrollHeight;
  }
  const chat = new WebSocket(`ws://${location.host}/chat`);
  chat.onopen = () => show("connected", true);
  chat.onmessage = (e) => show(e.data);
  chat.onclose = (e) => show(`closed: ${e.code} ${e.reason}`, true);
  document.getElementById("say").onsubmit = (e) => {
    e.preventDefault();
    const text = document.getElementById("text");
    if (text.value && chat.readyState === WebSocket.OPEN) chat.send(text.value);
    text.value = "";
  };
</script>
</body>
</html>
)html";

}  // namespace wsapp
