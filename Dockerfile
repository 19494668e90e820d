# AetherFlow image: every role runs as `aetherflow <role> --id ID --topology FILE`
# (see `aetherflow render k8s`). Multi-stage: build with the full toolchain (native addons
# of classic-level, lz4-napi and @ronomon/reed-solomon compile here), run on the slim image
# of the same Debian release so the compiled addons match its glibc. etcd is not in the
# image: Kubernetes runs it as its own StatefulSet, or the topology names external endpoints.

FROM node:20-bookworm AS build
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
RUN npm ci
# Sources only: .dockerignore leaves out tests, docs, build output and local state.
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# package.json and proto/ sit at the package root: proto/load.ts finds the .proto files there.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/proto ./proto
COPY --from=build /app/topology/*.yaml ./topology/
# `render prometheus` names these rules by default.
COPY --from=build /app/deploy/prometheus/alerts.yml ./deploy/prometheus/
RUN ln -s /app/dist/cli/main.js /usr/local/bin/aetherflow
# node:20's unprivileged user (uid 1000); the Kubernetes manifests run as it too.
USER node
ENTRYPOINT ["aetherflow"]
CMD ["--help"]
