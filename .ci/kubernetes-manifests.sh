#!/usr/bin/env bash
# Validates deploy/kubernetes/ offline against the Kubernetes API's JSON schemas (the npm package
# kubernetes-models, pinned with its lockfile in .ci/kubernetes-validate/ and installed outside the
# work tree), as kubeconform would: every object's kind and apiVersion exist, and its fields have
# the types, formats and required members the API gives them. The manifests are rendered as
# `kubectl apply -k` does: by `kubectl kustomize` where kubectl is installed, or else from
# kustomization.yaml's resources and configMapGenerator here. The project's own rules for these
# files (args, probes, settings, secrets as files, fleet.yaml) are test/unit/kubernetes-manifests.test.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=deploy/kubernetes
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
cp .ci/kubernetes-validate/package.json .ci/kubernetes-validate/package-lock.json "$tools/"
(cd "$tools" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

rendered=""
if command -v kubectl > /dev/null 2>&1; then
  kubectl kustomize "$dir" > "$tools/rendered.yaml"
  rendered="$tools/rendered.yaml"
  echo "rendered with kubectl kustomize ($(kubectl version --client 2>/dev/null | head -n 1))"
fi

cat > "$tools/validate.mjs" <<'JS'
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

const [dir, rendered] = process.argv.slice(2);
// Kubernetes reads YAML 1.1 (0440 is octal there); parse as it does.
const documents = (text, where) =>
  parseAllDocuments(text, { version: '1.1' }).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${where}: ${doc.errors[0].message}`);
    return { where, object: doc.toJS() };
  });

let objects;
if (rendered) {
  objects = documents(readFileSync(rendered, 'utf8'), 'kubectl kustomize').filter((o) => o.object);
} else {
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'));
  objects = kustomization.resources.flatMap((file) => documents(readFileSync(join(dir, file), 'utf8'), file));
  for (const generator of kustomization.configMapGenerator ?? []) {
    const data = Object.fromEntries(generator.files.map((f) => [basename(f), readFileSync(join(dir, f), 'utf8')]));
    objects.push({ where: 'configMapGenerator', object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: generator.name }, data } });
  }
}

let failures = 0;
for (const { where, object } of objects) {
  const label = `${where}: ${object?.kind ?? '?'} ${object?.metadata?.name ?? '?'}`;
  try {
    if (typeof object?.apiVersion !== 'string' || typeof object?.kind !== 'string') throw new Error('no apiVersion or kind');
    let models;
    try {
      models = await import(`kubernetes-models/${object.apiVersion}`);
    } catch {
      throw new Error(`unknown apiVersion ${object.apiVersion}`);
    }
    const Model = models[object.kind];
    if (typeof Model !== 'function') throw new Error(`unknown kind ${object.kind} in ${object.apiVersion}`);
    new Model(object).validate();
    console.log(`valid: ${label}`);
  } catch (err) {
    failures += 1;
    console.error(`INVALID: ${label}: ${err.message}`);
  }
}
if (objects.length === 0) {
  console.error('no Kubernetes objects found');
  process.exit(1);
}
process.exit(failures === 0 ? 0 : 1);
JS
(cd "$tools" && node validate.mjs "$OLDPWD/$dir" "$rendered")
echo "kubernetes manifests: valid"
