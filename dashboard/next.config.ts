import type { NextConfig } from "next";

// /api/* goes to the services through proxy.ts (see there why not `rewrites`).
const nextConfig: NextConfig = {
  poweredByHeader: false,
  // gzip would hold back server-sent events until a buffer fills; the services are local.
  compress: false,
  turbopack: {
    rules: {
      "*.css": {
        loaders: ["@tailwindcss/turbopack"],
        as: "*.css",
      },
    },
  },
};

export default nextConfig;
