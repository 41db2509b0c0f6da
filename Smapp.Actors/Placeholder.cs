namespace Smapp.Actors; internal static class Placeholder {}
