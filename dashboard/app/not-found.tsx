import Link from "next/link";

export default function NotFound() {
  return (
    <main className="flex min-h-dvh flex-col items-center justify-center gap-2 px-4 text-center">
      <p className="text-sm font-semibold text-emerald-700">404</p>
      <h1 className="text-lg font-semibold text-zinc-900">This page does not exist</h1>
      <Link href="/inbox" className="mt-2 text-sm font-medium text-emerald-700 hover:underline">
        Go to the inbox
      </Link>
    </main>
  );
}
