import { ListArt, Upcoming } from "./Upcoming";

export function Component() {
  return (
    <Upcoming
      eyebrow="Discover"
      title="Feed"
      description="What changed in the datasets you follow and in your organization, live."
      api="GET /api/feed and /api/feed/stream"
      art={<ListArt />}
      features={[
        "“For you” and “Recent” tabs",
        "New events appear live, without reloading",
        "A “new items” banner when you have scrolled down",
        "Reconnects by itself and catches up on what it missed",
      ]}
    />
  );
}
