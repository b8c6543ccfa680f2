// The translation unit that builds tut/pch.hpp.
