// Tunnel: an outgoing HTTP/1.1 connection for an upgrade request (WebSocket or SPDY, as
// kubectl exec, attach and port-forward use), and the proxying of such a request: the request
// goes out as it came (with its Connection, Upgrade, Sec-WebSocket-* and X-Stream-Protocol-*
// headers), a 101 answer is passed back and the two connections are then joined, bytes flowing
// both ways on a thread of the tunnel's own until either side ends. Any other answer is passed
// back whole.
#pragma once

#include <memory>
#include <string>

#include "core/base/error.h"
#include "core/http/client.h"
#include "core/http/server.h"

namespace core::http {

class Tunnel {
 public:
  // Connects (TLS for https, with the options' CA and client certificate), sends the request and
  // reads the answer's head; the body of an answer other than 101 is read too (up to 1 MiB).
  // Errors: kInvalid (URL, TLS files), kUnavailable or kTimeout naming the peer.
  static Result<std::unique_ptr<Tunnel>> open(const Request& request,
                                              const ClientOptions& options);
  ~Tunnel();
  const Response& response() const;
  // Joins this connection (after a 101) with peer until either ends; returns at once.
  static void splice(std::unique_ptr<Tunnel> tunnel, std::shared_ptr<UpgradedConnection> peer);

  struct Impl;
  explicit Tunnel(std::unique_ptr<Impl> impl);

 private:
  std::shared_ptr<Impl> impl_;
};

// Forwards the upgrade request to url (the caller's target) and answers w with what comes
// back: 101 and the joined connection, another status with its body, or 502 when url cannot
// be reached.
void proxy_upgrade(const ServerRequest& request, const std::string& url,
                   const ClientOptions& options, ResponseWriter& w);

}  // namespace core::http
