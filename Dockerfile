# provet-sync: a small, non-root image that runs `provet-sync daemon` (or any other command).
# Build: docker build -t provet-sync .      Run: see docker-compose.yml and the README.
# No secret is ever copied or passed as a build argument: they come at run time from *_FILE.

ARG NODE_IMAGE=node:24-bookworm-slim

# 1. Compile TypeScript with the full (dev) dependency set.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# 2. Production dependencies only. Optional ones are left out: they are the embedded PostgreSQL
#    binaries (about 60 MB), and a container always gets DATABASE_URL.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force

# 3. The runtime: compiled code, migrations, production node_modules; files owned by root and
#    read-only to the unprivileged `node` user that runs the process.
FROM ${NODE_IMAGE}
# JSON logs even under `docker run -t`: a container's stdout belongs to its log collector
# (override with -e LOG_FORMAT=pretty to read them by eye).
ENV NODE_ENV=production \
    HTTP_PORT=8080 \
    LOG_FORMAT=json
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
USER node
EXPOSE 8080
# Liveness from inside the container, with Node itself (the slim image has no curl).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: Node is the process that receives SIGTERM (it lets the current page land, then exits 0).
# --max-semi-space-size=4: V8's young generation at 8 MB instead of 32. A sync's records die young
# (each is mapped as soon as it is parsed), so the smaller nursery costs no measurable CPU, and
# peak RSS drops by 20-30 MB (src/v8-flags.ts has the rest of the memory story). It can only be
# set when Node starts; the benchmark reads it from this line.
ENTRYPOINT ["node", "--max-semi-space-size=4", "dist/cli.js"]
CMD ["daemon"]
