// JSON-RPC 2.0 over one WebSocket (docs/api.md "Connecting"): calls by id, notifications
// to listeners by method name.

export class RpcError extends Error {
  constructor(error) {
    super(error.message);
    this.code = error.code;
    this.data = error.data;
  }
}

export class Rpc {
  constructor(url) {
    this.url = url;
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = new Map();
    this.onclose = null;
    this.ws = null;
  }

  open(timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      const fail = () => reject(new Error(`cannot reach the service at ${this.url}`));
      // A host that never answers would leave the socket connecting for minutes.
      const timer = setTimeout(() => {
        fail();
        ws.close();
      }, timeoutMs);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve(this);
      };
      ws.onerror = () => {
        clearTimeout(timer);
        fail();
      };
      ws.onmessage = (ev) => this.receive(ev.data);
      ws.onclose = () => {
        for (const p of this.pending.values()) p.reject(new Error("connection closed"));
        this.pending.clear();
        if (this.onclose) this.onclose();
      };
    });
  }

  close() {
    this.onclose = null;
    if (this.ws) this.ws.close();
  }

  call(method, params = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error("not connected to the service"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ jsonrpc: "2.0", method, params, id }));
    });
  }

  on(method, handler) {
    if (!this.listeners.has(method)) this.listeners.set(method, []);
    this.listeners.get(method).push(handler);
  }

  receive(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (Array.isArray(msg)) return; // this page sends no batches
    if (msg.id === undefined || msg.id === null) {
      for (const handler of this.listeners.get(msg.method) || []) handler(msg.params);
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.error) p.reject(new RpcError(msg.error));
    else p.resolve(msg.result);
  }
}
