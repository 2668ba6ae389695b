// Tests of the agent's Service rules and pod routes: kube-proxy's chain names, the rules for
// ClusterIPs, node ports, external and LoadBalancer addresses, endpoint choice, Services without
// endpoints and stale chains; the rendered tables loaded by the real iptables-restore, and
// routes written over rtnetlink, each in a network namespace of the test's own.
#include "k3s/agent/proxy_rules.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <thread>

#include "core/fs/files.h"
#include "core/proc/process.h"
#include "k3s/agent/routes.h"

namespace k3s::agent {
namespace {

using json = nlohmann::json;

json service(const std::string& name, json spec, json status = json::object()) {
  return {{"metadata", {{"namespace", "default"}, {"name", name}}},
          {"spec", std::move(spec)},
          {"status", std::move(status)}};
}

json endpoint(const std::string& ip, bool ready, bool serving = false, bool terminating = false) {
  return {{"addresses", {ip}},
          {"conditions", {{"ready", ready}, {"serving", serving}, {"terminating", terminating}}}};
}

json slice(const std::string& service, json ports, json endpoints) {
  return {{"metadata",
           {{"namespace", "default"},
            {"name", service + "-abcde"},
            {"labels", {{"kubernetes.io/service-name", service}}}}},
          {"ports", std::move(ports)},
          {"endpoints", std::move(endpoints)}};
}

bool has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

ProxyState web_state() {
  ProxyState s{.cluster_cidr = "10.42.0.0/16"};
  s.services.push_back(
      service("web", {{"clusterIP", "10.43.0.20"},
                      {"type", "ClusterIP"},
                      {"ports", {{{"name", "http"}, {"port", 80}, {"protocol", "TCP"}}}}}));
  s.slices.push_back(slice("web", {{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}},
                           {endpoint("10.42.0.5", true), endpoint("10.42.0.6", false)}));
  s.slices.push_back(slice("web", {{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}},
                           {endpoint("10.42.1.7", true)}));
  return s;
}

TEST(ProxyRules, ChainNamesAreKubeProxys) {
  EXPECT_EQ(chain_name("KUBE-SVC-", "default/kubernetes:httpstcp"), "KUBE-SVC-NPX46M4PTMTKRN6Y");
  EXPECT_EQ(chain_name("KUBE-SVC-", "kube-system/kube-dns:dnsudp"), "KUBE-SVC-TCOU7JCQXEZGVUNU");
  EXPECT_EQ(chain_name("KUBE-SVC-", "kube-system/kube-dns:dns-tcptcp"),
            "KUBE-SVC-ERIFXISQEP7F7OF4");
}

TEST(ProxyRules, ClusterIpSpreadsOverReadyEndpoints) {
  std::string rules = render_proxy_rules(web_state());
  std::string svc = chain_name("KUBE-SVC-", "default/web:httptcp");
  std::string sep5 = chain_name("KUBE-SEP-", "default/web:httptcp10.42.0.5:8080");
  std::string sep7 = chain_name("KUBE-SEP-", "default/web:httptcp10.42.1.7:8080");
  EXPECT_TRUE(has(rules,
                  "-A KUBE-SERVICES -d 10.43.0.20/32 -p tcp -m tcp --dport 80 -m comment "
                  "--comment \"default/web:http cluster IP\" -j " +
                      svc));
  EXPECT_TRUE(has(rules, "-A " + svc +
                             " ! -s 10.42.0.0/16 -d 10.43.0.20/32 -p tcp -m tcp "
                             "--dport 80 -j KUBE-MARK-MASQ"));
  EXPECT_TRUE(has(rules, "-A " + svc +
                             " -m comment --comment \"default/web:http -> "
                             "10.42.0.5:8080\" -m statistic --mode random --probability "
                             "0.5000000000 -j " +
                             sep5));
  EXPECT_TRUE(has(rules, "-A " + svc +
                             " -m comment --comment \"default/web:http -> "
                             "10.42.1.7:8080\" -j " +
                             sep7));
  EXPECT_TRUE(has(rules, "-A " + sep7 + " -s 10.42.1.7/32 -j KUBE-MARK-MASQ"));
  EXPECT_TRUE(has(rules, "-A " + sep7 + " -p tcp -m tcp -j DNAT --to-destination 10.42.1.7:8080"));
  EXPECT_EQ(rules.find("10.42.0.6"), std::string::npos) << "a not-ready endpoint is used";
  EXPECT_EQ(rules.find("REJECT"), std::string::npos);
}

TEST(ProxyRules, TerminatingEndpointsServeWhenNoneIsReady) {
  ProxyState s = web_state();
  s.slices = {slice("web", {{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}},
                    {endpoint("10.42.0.8", false, true, true), endpoint("10.42.0.9", false)})};
  std::string rules = render_proxy_rules(s);
  EXPECT_NE(rules.find("--to-destination 10.42.0.8:8080"), std::string::npos);
  EXPECT_EQ(rules.find("10.42.0.9"), std::string::npos);
}

TEST(ProxyRules, ServiceWithoutEndpointsIsRejected) {
  ProxyState s = web_state();
  s.slices.clear();
  s.services[0]["spec"]["type"] = "NodePort";
  s.services[0]["spec"]["ports"][0]["nodePort"] = 30080;
  std::string rules = render_proxy_rules(s);
  EXPECT_EQ(rules.find("KUBE-SVC-"), std::string::npos);
  std::string filter = rules.substr(rules.find("*filter"));
  EXPECT_TRUE(has(filter,
                  "-A KUBE-SERVICES -d 10.43.0.20/32 -p tcp -m tcp --dport 80 -m comment "
                  "--comment \"default/web:http has no endpoints\" -j REJECT"));
  EXPECT_TRUE(has(filter,
                  "-A KUBE-EXTERNAL-SERVICES -m addrtype --dst-type LOCAL -p tcp -m tcp "
                  "--dport 30080 -m comment --comment \"default/web:http has no "
                  "endpoints\" -j REJECT"));
}

TEST(ProxyRules, NodePortsAndExternalAddressesPassTheExtChain) {
  ProxyState s = web_state();
  s.services[0]["spec"]["type"] = "LoadBalancer";
  s.services[0]["spec"]["ports"][0]["nodePort"] = 30080;
  s.services[0]["spec"]["externalIPs"] = {"192.0.2.10"};
  s.services[0]["status"] = {{"loadBalancer", {{"ingress", {{{"ip", "10.77.0.1"}}}}}}};
  std::string rules = render_proxy_rules(s);
  std::string ext = chain_name("KUBE-EXT-", "default/web:httptcp");
  std::string svc = chain_name("KUBE-SVC-", "default/web:httptcp");
  EXPECT_TRUE(has(rules,
                  "-A KUBE-NODEPORTS -p tcp -m tcp --dport 30080 -m comment --comment "
                  "\"default/web:http\" -j " +
                      ext));
  for (const char* ip : {"192.0.2.10", "10.77.0.1"})
    EXPECT_TRUE(has(rules, "-A KUBE-SERVICES -d " + std::string(ip) +
                               "/32 -p tcp -m tcp --dport "
                               "80 -m comment --comment \"default/web:http external IP\" -j " +
                               ext));
  EXPECT_TRUE(has(rules, "-A " + ext + " -j " + svc));
  EXPECT_TRUE(has(rules, "-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS"));
}

TEST(ProxyRules, HeadlessAndExternalNameServicesHaveNoRules) {
  ProxyState s = web_state();
  s.services[0]["spec"]["clusterIP"] = "None";
  s.services.push_back(service("ext", {{"type", "ExternalName"}, {"externalName", "example.org"}}));
  std::string rules = render_proxy_rules(s);
  EXPECT_EQ(rules.find("KUBE-SVC-"), std::string::npos);
  EXPECT_EQ(rules.find("REJECT"), std::string::npos);
}

TEST(ProxyRules, StaleChainsDeletedAndEitherPartOff) {
  ProxyState s = web_state();
  s.existing_chains = {"KUBE-SVC-GONE000000000000", chain_name("KUBE-SVC-", "default/web:httptcp")};
  std::string rules = render_proxy_rules(s);
  EXPECT_TRUE(has(rules, ":KUBE-SVC-GONE000000000000 - [0:0]"));
  EXPECT_TRUE(has(rules, "-X KUBE-SVC-GONE000000000000"));
  EXPECT_EQ(rules.find("-X " + chain_name("KUBE-SVC-", "default/web:httptcp")), std::string::npos);
  s.service_rules = false;
  rules = render_proxy_rules(s);
  EXPECT_EQ(rules.find("KUBE-"), std::string::npos);
  EXPECT_TRUE(has(rules,
                  "-A FLANNEL-POSTRTG -s 10.42.0.0/16 -d 10.42.0.0/16 -m comment "
                  "--comment \"pod to pod\" -j RETURN"));
  // --flannel-backend=none: Service rules only, no masquerading of pods.
  s.service_rules = true;
  s.pod_network = false;
  rules = render_proxy_rules(s);
  EXPECT_EQ(rules.find("FLANNEL"), std::string::npos);
  EXPECT_NE(rules.find(":KUBE-SERVICES"), std::string::npos);
}

// Runs `script` with the rules in $1 inside a new network namespace.
core::ProcessOutput in_netns(const std::string& rules, const std::string& script) {
  std::string file = ::testing::TempDir() + "/proxy-rules";
  EXPECT_TRUE(core::write_file_atomic(file, rules));
  auto r = core::run_command({"unshare", "--net", "sh", "-c", script, "sh", file});
  EXPECT_TRUE(r.has_value());
  return r ? *r : core::ProcessOutput{};
}

TEST(ProxyRules, RealIptablesRestoreLoadsThemAndDeletesStaleChains) {
  ProxyState s = web_state();
  s.services[0]["spec"]["type"] = "LoadBalancer";
  s.services[0]["spec"]["ports"][0]["nodePort"] = 30080;
  s.services[0]["status"] = {{"loadBalancer", {{"ingress", {{{"ip", "10.77.0.1"}}}}}}};
  s.services.push_back(
      service("empty", {{"clusterIP", "10.43.0.21"}, {"ports", {{{"port", 81}}}}}));
  std::string first = render_proxy_rules(s);
  // What an earlier run left: the web Service's chains, now stale once the Service is gone.
  ProxyState later = s;
  later.services.erase(later.services.begin());
  later.existing_chains = {chain_name("KUBE-SVC-", "default/web:httptcp"),
                           chain_name("KUBE-EXT-", "default/web:httptcp"),
                           chain_name("KUBE-SEP-", "default/web:httptcp10.42.0.5:8080"),
                           chain_name("KUBE-SEP-", "default/web:httptcp10.42.1.7:8080")};
  std::string file2 = ::testing::TempDir() + "/proxy-rules-2";
  ASSERT_TRUE(core::write_file_atomic(file2, render_proxy_rules(later)));
  auto out = in_netns(first,
                      "iptables-restore --noflush \"$1\" && iptables-save && echo ---- && "
                      "iptables-restore --noflush " +
                          file2 + " && iptables-save");
  ASSERT_EQ(out.exit_code, 0) << out.out;
  std::string before = out.out.substr(0, out.out.find("----"));
  std::string after = out.out.substr(out.out.find("----"));
  std::string svc = chain_name("KUBE-SVC-", "default/web:httptcp");
  EXPECT_NE(before.find(":" + svc), std::string::npos) << before;
  EXPECT_NE(before.find("--to-destination 10.42.1.7:8080"), std::string::npos) << before;
  EXPECT_NE(before.find("default/empty has no endpoints"), std::string::npos) << before;
  EXPECT_EQ(after.find("KUBE-SVC-"), std::string::npos) << after;
  EXPECT_EQ(after.find("KUBE-SEP-"), std::string::npos) << after;
  EXPECT_NE(after.find("default/empty has no endpoints"), std::string::npos) << after;
}

// Runs `body` on a thread of its own in a new network namespace holding a veth link v0 with
// 10.9.0.1/24 (namespaces are per thread; commands it runs inherit the thread's).
void in_own_netns(const std::function<void(const std::function<std::string()>&)>& body) {
  std::thread t([&] {
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0);
    for (auto argv : std::vector<std::vector<std::string>>{
             {"ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"},
             {"ip", "addr", "add", "10.9.0.1/24", "dev", "v0"},
             {"ip", "link", "set", "v0", "up"},
             {"ip", "link", "set", "v1", "up"}}) {
      auto r = core::run_command(argv);
      ASSERT_TRUE(r && r->exit_code == 0) << argv[0] << " " << argv[1] << ": " << r->out;
    }
    body([] {
      auto r = core::run_command({"ip", "route", "show"});
      return r ? r->out : std::string();
    });
  });
  t.join();
}

TEST(Routes, PodNetworksOfOtherNodes) {
  in_own_netns([](const std::function<std::string()>& routes) {
    ASSERT_TRUE(replace_route("10.42.5.0/24", "10.9.0.2"));
    EXPECT_NE(routes().find("10.42.5.0/24 via 10.9.0.2 dev v0 proto static"), std::string::npos)
        << routes();
    // Another gateway replaces the route.
    ASSERT_TRUE(replace_route("10.42.5.0/24", "10.9.0.3"));
    EXPECT_NE(routes().find("10.42.5.0/24 via 10.9.0.3"), std::string::npos) << routes();
    EXPECT_EQ(routes().find("via 10.9.0.2"), std::string::npos) << routes();
    // A node beyond a gateway is reached through that gateway.
    ASSERT_EQ(
        core::run_command({"ip", "route", "add", "10.200.0.0/16", "via", "10.9.0.2"})->exit_code,
        0);
    ASSERT_TRUE(replace_route("10.42.6.0/24", "10.200.0.5"));
    EXPECT_NE(routes().find("10.42.6.0/24 via 10.9.0.2"), std::string::npos) << routes();
    // No way to the node: the kernel's reason; malformed input refused.
    auto unreachable = replace_route("10.42.7.0/24", "172.31.0.1");
    ASSERT_FALSE(unreachable);
    EXPECT_NE(unreachable.error().message().find("Network is unreachable"), std::string::npos)
        << unreachable.error().message();
    EXPECT_EQ(replace_route("10.42.8.0/33", "10.9.0.2").error().code(), core::Errc::kInvalid);
    EXPECT_EQ(replace_route("10.42.8.0/x", "10.9.0.2").error().code(), core::Errc::kInvalid);
    EXPECT_EQ(replace_route("10.42.8.0/24", "node-2").error().code(), core::Errc::kInvalid);
    ASSERT_TRUE(delete_route("10.42.5.0/24"));
    EXPECT_EQ(routes().find("10.42.5.0/24"), std::string::npos) << routes();
    EXPECT_TRUE(delete_route("10.42.5.0/24")) << "deleting a missing route";
  });
}

}  // namespace
}  // namespace k3s::agent
