# BOS v2 image: `node bin/bos.js <command>` (serve, operators, up, sim, ...).
#   docker build -t registry.local/bos:0.1.0 .
# Stage 1 compiles the TypeScript with the dev dependencies; stage 2 holds only the production
# dependencies, the compiled code and the files it reads at run time, and runs as a non-root user.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` bundles the web view from src/, which is not here yet (the build does it).
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY scripts/build.mjs scripts/build-ui.mjs ./scripts/
COPY src ./src
# The same build as `npm run build`: src/ compiled (tests and benchmarks are not part of the image)
# with the non-TypeScript files it reads at run time (the OpenAPI contract, the web view) beside it.
RUN node scripts/build.mjs

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
# A larger young generation: the API and the operators parse and build many short-lived records per
# pass (tens of MB at 100,000 nodes); with 64 MB semi-spaces V8 collects them far less often.
ENV NODE_OPTIONS=--max-semi-space-size=64
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force
COPY bin ./bin
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/BUILT ./dist/BUILT
# The image's `node` user (uid/gid 1000); the manifests run with a read-only root filesystem.
USER 1000:1000
EXPOSE 8080 9090
ENTRYPOINT ["node", "bin/bos.js"]
CMD ["serve", "--host", "0.0.0.0"]
