// @kubernetes/client-node against a running `k3s server` (KUBECONFIG): typed lists, create,
// the three patch types, the scale subresource, errors, watch, an informer, the generic
// object API and server-side apply. Exits non-zero with the failing step's name.
import * as k8s from '@kubernetes/client-node';
import assert from 'node:assert/strict';

const kc = new k8s.KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const namespace = 'client-node';
const header = (type) => k8s.setHeaderOptions('Content-Type', type);

async function step(name, fn) {
  try {
    await fn();
    console.log(`ok ${name}`);
  } catch (e) {
    console.error(`FAIL ${name}: ${e.stack || e}`);
    process.exit(1);
  }
}

// Resolves when `predicate` holds, failing after `ms`.
function until(predicate, ms, what) {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const poll = () => {
      if (predicate()) return resolve();
      if (Date.now() - start > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(poll, 20);
    };
    poll();
  });
}

await step('list namespaces', async () => {
  const list = await core.listNamespace();
  const names = list.items.map((n) => n.metadata.name);
  for (const n of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) assert.ok(names.includes(n), names);
});

await step('create namespace and configmap', async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const cm = await core.createNamespacedConfigMap({
    namespace, body: { metadata: { name: 'cm', labels: { app: 'x' } }, data: { a: '1' } } });
  assert.match(cm.metadata.uid, /^[0-9a-f-]{36}$/);
  assert.equal(cm.data.a, '1');
});

await step('three patch types', async () => {
  await core.patchNamespacedConfigMap({ name: 'cm', namespace, body: { data: { b: '2' } } },
    header(k8s.PatchStrategy.MergePatch));
  await core.patchNamespacedConfigMap({ name: 'cm', namespace, body: [{ op: 'add', path: '/data/c', value: '3' }] },
    header(k8s.PatchStrategy.JsonPatch));
  const cm = await core.patchNamespacedConfigMap({ name: 'cm', namespace, body: { data: { d: '4' } } },
    header(k8s.PatchStrategy.StrategicMergePatch));
  assert.deepEqual(cm.data, { a: '1', b: '2', c: '3', d: '4' });
});

await step('a missing object is an ApiException with 404', async () => {
  await assert.rejects(core.readNamespacedConfigMap({ name: 'nope', namespace }), (e) => e.code === 404);
});

await step('deployment and its scale', async () => {
  await apps.createNamespacedDeployment({ namespace, body: {
    metadata: { name: 'web' },
    spec: { replicas: 1, selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'busybox' }] } } } } });
  // Read, modify, write: the deployment controller writes too, so a stale version is retried.
  for (let attempt = 0; ; attempt++) {
    const scale = await apps.readNamespacedDeploymentScale({ name: 'web', namespace });
    assert.equal(scale.spec.replicas, 1);
    assert.equal(scale.status.selector, 'app=web');
    scale.spec.replicas = 3;
    try {
      await apps.replaceNamespacedDeploymentScale({ name: 'web', namespace, body: scale });
      break;
    } catch (e) {
      if (e.code !== 409 || attempt >= 10) throw e;
    }
  }
  const d = await apps.readNamespacedDeployment({ name: 'web', namespace });
  assert.equal(d.spec.replicas, 3);
  assert.equal(d.metadata.generation, 2);
});

await step('watch sees a create', async () => {
  const seen = [];
  const list = await core.listNamespacedConfigMap({ namespace });
  const watch = new k8s.Watch(kc);
  const req = await watch.watch(`/api/v1/namespaces/${namespace}/configmaps`,
    { resourceVersion: list.metadata.resourceVersion }, (type, obj) => seen.push(`${type} ${obj.metadata.name}`), () => {});
  await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'watched' } } });
  await until(() => seen.includes('ADDED watched'), 5000, 'ADDED watched');
  req.abort();
});

await step('informer follows add, update and delete', async () => {
  const informer = k8s.makeInformer(kc, `/api/v1/namespaces/${namespace}/configmaps`,
    () => core.listNamespacedConfigMap({ namespace }));
  const events = [];
  informer.on('add', (o) => events.push(`add ${o.metadata.name}`));
  informer.on('update', (o) => events.push(`update ${o.metadata.name}`));
  informer.on('delete', (o) => events.push(`delete ${o.metadata.name}`));
  await informer.start();
  await until(() => events.includes('add cm'), 5000, 'the initial list');
  await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'later' } } });
  await until(() => events.includes('add later'), 5000, 'add later');
  await core.patchNamespacedConfigMap({ name: 'later', namespace, body: { data: { x: '1' } } },
    header(k8s.PatchStrategy.MergePatch));
  await until(() => events.includes('update later'), 5000, 'update later');
  await core.deleteNamespacedConfigMap({ name: 'later', namespace });
  await until(() => events.includes('delete later'), 5000, 'delete later');
  assert.equal(informer.get('later', namespace), undefined);
  assert.equal(informer.get('cm', namespace).data.a, '1');
  await informer.stop();
});

await step('generic object API', async () => {
  const client = k8s.KubernetesObjectApi.makeApiClient(kc);
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', namespace },
    spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } };
  const created = await client.create(svc);
  assert.equal(created.kind, 'Service');
  const read = await client.read({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', namespace } });
  assert.equal(read.spec.ports[0].port, 80);
  const patched = await client.patch({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', namespace, labels: { x: 'y' } } },
    undefined, undefined, undefined, undefined, k8s.PatchStrategy.MergePatch);
  assert.equal(patched.metadata.labels.x, 'y');
  const list = await client.list('apps/v1', 'Deployment', namespace);
  assert.deepEqual(list.items.map((d) => d.metadata.name), ['web']);
  await client.delete({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', namespace } });
  await assert.rejects(client.read({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', namespace } }), (e) => e.code === 404);
});

await step('server-side apply', async () => {
  const client = k8s.KubernetesObjectApi.makeApiClient(kc);
  const obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied', namespace }, data: { k: 'v' } };
  const res = await client.patch(obj, undefined, undefined, 'client-node', true, k8s.PatchStrategy.ServerSideApply);
  assert.equal(res.data.k, 'v');
  assert.deepEqual(res.metadata.managedFields.map((m) => `${m.manager}/${m.operation}`), ['client-node/Apply']);
  obj.data = { k: 'w' };
  const again = await client.patch(obj, undefined, undefined, 'client-node', true, k8s.PatchStrategy.ServerSideApply);
  assert.equal(again.data.k, 'w');
});

console.log('client-node: ok');
