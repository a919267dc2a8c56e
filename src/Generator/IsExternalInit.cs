// netstandard2.0 lacks the type the compiler needs for init accessors (records); declaring it here is the standard polyfill.
namespace System.Runtime.CompilerServices;

internal static class IsExternalInit
{
}
